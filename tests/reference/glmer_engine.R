# lme4 reference fits for the mixed-model engine's generalized models (multilevel.glmer;
# issue 9). Compared in tests/test_mixed_reference.py.
#   - binomial with trials: cbind(incidence, size - incidence) ~ period + (1 | herd) (cbpp),
#     the same as a proportion with weights = size, and with adaptive quadrature (nAGQ = 9);
#   - Poisson with an offset: malignant-melanoma deaths in 78 European regions with the
#     expected deaths as exposure (mlmRev::Mmmec), offset(log(expected)) in the formula,
#     with one factor and with nested (1 | nation/region);
#   - Poisson with three random intercepts (lme4::grouseticks: brood, location and an
#     observation-level effect for overdispersion);
#   - profile confidence intervals for cbpp; predict() on the link and response scales, with
#     and without the random effects, and for a new herd; anova() with and without period.
#
# Run from the repository root after `python tests/reference/export_data.py`:
#   Rscript tests/reference/glmer_engine.R
#
# As in glmer_reference.R, glmer's default fit stops PIRLS at tolPwrss = 1e-7 and its vcov()
# differentiates that noisy deviance with step 1e-4. The fixture's numbers therefore come from
# glmer refitted with tolPwrss = 1e-10 (and bobyqa with rhoend = 1e-10 in both stages), the
# likelihood's optimum itself; `se` is from that fit's vcov(), `se_converged` from a Hessian of
# its deviance function with step 1e-3. `seconds` (median of `times` runs) is glmer with its
# default control, the time a user gets and the one the benchmark compares with; the default
# fit's log-likelihood and estimates are kept under `default_control`.
source("tests/reference/common.R")

cbpp <- reference_data("cbpp")
cbpp$herd <- factor(cbpp$herd)
cbpp$period <- factor(cbpp$period)
cbpp$prop <- cbpp$incidence / cbpp$size   # fitted with weights = size
mmmec <- reference_data("mmmec")
mmmec$region <- factor(mmmec$region)
grouse <- reference_data("grouseticks")
for (column in c("INDEX", "BROOD", "LOCATION", "YEAR")) grouse[[column]] <- factor(grouse[[column]])

data_sets <- list(cbpp = cbpp, mmmec = mmmec, grouseticks = grouse)

spec <- function(data, formula, family, nAGQ = 1L, weights = NULL, times = 5L, profile = FALSE) {
  list(data = data, formula = formula, family = family, nAGQ = as.integer(nAGQ),
       weights = weights, times = as.integer(times), profile = profile)
}
trials <- cbind(incidence, size - incidence) ~ period + (1 | herd)
specs <- list(
  cbpp_cbind = spec("cbpp", trials, "binomial", profile = TRUE),
  cbpp_weights = spec("cbpp", prop ~ period + (1 | herd), "binomial", weights = "size"),
  cbpp_cbind_agq9 = spec("cbpp", trials, "binomial", nAGQ = 9),
  cbpp_null = spec("cbpp", cbind(incidence, size - incidence) ~ 1 + (1 | herd), "binomial"),
  mmmec_offset = spec("mmmec", deaths ~ uvb + (1 | region) + offset(log(expected)), "poisson"),
  mmmec_nested_offset = spec("mmmec", deaths ~ uvb + (1 | nation/region) + offset(log(expected)),
                             "poisson"),
  grouseticks_three_factors = spec("grouseticks",
                                   TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
                                   "poisson", times = 3)
)

named <- function(x) as.list(setNames(as.numeric(x), names(x)))

tight <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-10, optCtrl = list(rhoend = 1e-10))

# Quietly fit, keeping glmer's messages and warnings (e.g. "boundary (singular) fit").
fit_quietly <- function(s, control = glmerControl(), devFunOnly = FALSE) {
  notes <- character()
  data <- data_sets[[s$data]]
  args <- list(formula = s$formula, data = data, family = s$family, nAGQ = s$nAGQ,
               control = control, devFunOnly = devFunOnly)
  if (!is.null(s$weights)) args$weights <- data[[s$weights]]
  fit <- withCallingHandlers(
    do.call(glmer, args),
    warning = function(w) { notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { notes <<- c(notes, trimws(conditionMessage(m))); invokeRestart("muffleMessage") }
  )
  list(fit = fit, notes = unique(notes))
}

# Fixed-effect covariance from a Hessian of the deviance over (theta, beta), as vcov.merMod does.
vcov_from_hessian <- function(hessian, n_theta) {
  inverse <- solve(hessian)
  block <- inverse[-seq_len(n_theta), -seq_len(n_theta), drop = FALSE]
  block + t(block)
}

profile_ci <- function(fit) {
  ci <- suppressMessages(suppressWarnings(confint(fit, method = "profile", oldNames = FALSE)))
  lapply(setNames(seq_len(nrow(ci)), rownames(ci)),
         function(i) list(lower = ci[i, 1], upper = ci[i, 2]))
}

fitted_models <- list()
fits <- list()
for (name in names(specs)) {
  s <- specs[[name]]
  times <- vapply(seq_len(s$times), function(i) {
    system.time(default_result <<- fit_quietly(s))[["elapsed"]]
  }, numeric(1))
  default_fit <- default_result$fit
  seconds_tight <- system.time(result <- fit_quietly(s, tight))[["elapsed"]]
  fit <- result$fit
  fitted_models[[name]] <- fit
  theta <- getME(fit, "theta")
  se_converged <- tryCatch({
    devfun <- fit_quietly(s, tight, devFunOnly = TRUE)$fit
    pars <- c(theta, fixef(fit))
    if (s$nAGQ == 0L) stop("no stage-2 deviance")
    hess <- lme4:::deriv12(devfun, pars, delta = 1e-3)$Hessian
    named(setNames(sqrt(diag(vcov_from_hessian(hess, length(theta)))), names(fixef(fit))))
  }, error = function(e) list(error = conditionMessage(e)))
  entry <- c(
    # `model`: the formula as written (lme4 expands || and / in `formula`).
    list(name = name, data = s$data, model = paste(deparse(s$formula, width.cutoff = 500L), collapse = ""), family = s$family, nAGQ = s$nAGQ,
         weights = if (is.null(s$weights)) NA else s$weights, times = s$times),
    describe_merMod(fit, median(times)),
    list(
      median_seconds = median(times),
      seconds_all = times,
      seconds_tight = seconds_tight,
      # The machine's 1-minute load average when timed (2 cores, shared): times taken at a
      # load well above 2 are inflated and should be re-measured before a comparison.
      load_average = as.numeric(scan("/proc/loadavg", what = "", n = 1, quiet = TRUE)),
      theta = unname(theta),
      theta_names = names(theta),
      vcov = unname(as.matrix(vcov(fit))),
      se_converged = se_converged,
      deviance = -2 * as.numeric(logLik(fit)),
      converged = is.null(fit@optinfo$conv$lme4$messages),
      notes = result$notes,
      default_control = list(loglik = as.numeric(logLik(default_fit)),
                             fixef = named(fixef(default_fit)),
                             theta = unname(getME(default_fit, "theta")),
                             notes = default_result$notes)
    )
  )
  if (s$nAGQ > 1L) {
    # lme4 issue #161: with nAGQ > 1, glmer's logLik() leaves out the saturated model's
    # log-likelihood (it sums deviance residuals), so it is not on the scale of the Laplace
    # fit (cbpp: -50.0 against -92.0). For 0/1 responses that term is zero; with trials it
    # is not. `loglik_full` is the log-likelihood on the Laplace fit's scale.
    data <- data_sets[[s$data]]
    y <- model.response(model.frame(fit))
    n <- if (is.matrix(y)) rowSums(y) else data[[s$weights]]
    k <- if (is.matrix(y)) y[, 1] else y * n
    entry$loglik_saturated <- sum(dbinom(k, n, k / n, log = TRUE))
    entry$loglik_full <- entry$loglik + entry$loglik_saturated
  }
  # On a fresh fit: profile() leaves the fitted object's mutable internals (its predictor's
  # random effects) changed, and predict(newdata = ...) on it afterwards is wrong.
  if (s$profile) entry$profile_ci <- profile_ci(fit_quietly(s, tight)$fit)
  fits[[name]] <- entry
  cat(sprintf("%-28s logLik %.6f (default %.6f)  theta %s  %.3fs (tight %.3fs)\n", name,
              entry$loglik, entry$default_control$loglik,
              paste(sprintf("%.5f", entry$theta), collapse = " "), median(times), seconds_tight))
}

# ---------------------------------------------------------------- predict
cb <- fitted_models$cbpp_cbind
as_rows <- function(df) lapply(seq_len(nrow(df)), function(i) as.list(df[i, ]))
# Known herds and a new one (herd 99), every period.
newdata <- data.frame(herd = c(1, 1, 7, 15, 99, 99), period = c(1, 4, 2, 3, 1, 3))
as_factors <- function(df) {
  df$herd <- factor(df$herd)
  df$period <- factor(df$period, levels = levels(cbpp$period))
  df
}
fits$cbpp_cbind$predict <- list(
  link = unname(predict(cb, type = "link")),
  response = unname(predict(cb, type = "response")),
  link_population = unname(predict(cb, type = "link", re.form = NA)),
  response_population = unname(predict(cb, type = "response", re.form = NA)),
  fitted = unname(fitted(cb)),
  newdata = as_rows(newdata),
  new_link = unname(predict(cb, newdata = as_factors(newdata), type = "link",
                            allow.new.levels = TRUE)),
  new_response = unname(predict(cb, newdata = as_factors(newdata), type = "response",
                                allow.new.levels = TRUE)),
  new_response_population = unname(predict(cb, newdata = as_factors(newdata),
                                            type = "response", re.form = NA))
)
mm <- fitted_models$mmmec_offset
fits$mmmec_offset$predict <- list(
  link = unname(predict(mm, type = "link")),          # includes the offset, as lme4 does
  response = unname(predict(mm, type = "response")),
  response_population = unname(predict(mm, type = "response", re.form = NA))
)

# ---------------------------------------------------------------- anova
table_rows <- function(tab) {
  lapply(setNames(seq_len(nrow(tab)), rownames(tab)), function(i) {
    row <- as.list(tab[i, ])
    names(row) <- colnames(tab)
    lapply(row, function(v) if (is.na(v)) NA else unname(v))
  })
}
anova_models <- c("cbpp_null", "cbpp_cbind")
anova_tab <- anova(fitted_models$cbpp_null, fitted_models$cbpp_cbind)
fits$anova_cbpp <- list(
  name = "anova_cbpp",
  models = anova_models,
  refitted_ML = FALSE,
  table = table_rows(`rownames<-`(anova_tab, anova_models)),
  Chisq = anova_tab$Chisq[2], Df = anova_tab$Df[2], p = anova_tab[["Pr(>Chisq)"]][2]
)
cat(sprintf("anova cbpp: Chisq %.6f  Df %d  p %.6g\n", anova_tab$Chisq[2], anova_tab$Df[2],
            anova_tab[["Pr(>Chisq)"]][2]))

write_fixture(fits, "tests/reference/glmer_engine.json")
