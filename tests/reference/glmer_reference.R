# Reference fits from lme4's glmer for tests/test_glmm.py and bench/fits.py.
#
# Run from the repository root:   Rscript tests/reference/glmer_reference.R
# It reads the data sets named in `specs` (CSV files found by reference_data() in
# common.R: tests/reference/data/ or data/), fits each model with glmer
# (family = binomial, logit link) and writes tests/reference/glmer_reference.json.
# Every number the Python tests compare with comes from here; none is typed by hand.
#
# To add a model, append one entry to `specs` (a data set is read once however
# many models use it):
#   name     unique id the tests use
#   data     data set name: <name>.csv in tests/reference/data/ or data/
#   formula  lme4 formula with one (... | group) term
#   nAGQ     1 = Laplace (glmer's default); > 1 = adaptive Gauss-Hermite quadrature
#   reps     how many timed fits (the median elapsed time is recorded)
# The small awkward data sets are written once by tests/reference/make_glmm_data.py.

source("tests/reference/common.R")

spec <- function(name, data, formula, nAGQ = 1L, reps = 1L) {
  list(name = name, data = data, formula = formula, nAGQ = as.integer(nAGQ), reps = as.integer(reps))
}

red_blue <- "red_blue_simulated"
few <- "glmm_few_groups"
singular <- "glmm_singular"
mid <- "glmm_two_covariates"

specs <- c(
  list(
    spec("red_blue_intercept", red_blue, "vote ~ income + (1 | state)", reps = 5),
    spec("red_blue_slope", red_blue, "vote ~ income + (1 + income | state)", reps = 5),
    spec("red_blue_cross_level", red_blue,
         "vote ~ state_avg_income * income + (1 + income | state)", reps = 5)
  ),
  lapply(c(2, 3, 5, 7, 10, 15, 20, 25), function(k) {
    spec(sprintf("red_blue_intercept_agq%02d", k), red_blue, "vote ~ income + (1 | state)", nAGQ = k)
  }),
  list(
    spec("few_groups_intercept", few, "y ~ x + (1 | group)", reps = 3),
    spec("few_groups_slope", few, "y ~ x + (1 + x | group)", reps = 3)
  ),
  lapply(c(2, 3, 5, 10, 25), function(k) {
    spec(sprintf("few_groups_intercept_agq%02d", k), few, "y ~ x + (1 | group)", nAGQ = k)
  }),
  list(
    spec("singular_intercept", singular, "y ~ x + (1 | group)", reps = 3),
    spec("singular_slope", singular, "y ~ x + (1 + x | group)", reps = 3),
    spec("two_covariates_slope", mid, "y ~ x + x2 + (1 + x | group)", reps = 3),
    spec("two_covariates_three_effects", mid, "y ~ x + x2 + (1 + x + x2 | group)", reps = 3),
    spec("two_covariates_intercept_agq10", mid, "y ~ x + x2 + (1 | group)", nAGQ = 10)
  )
)

# Quietly fit, keeping glmer's messages and warnings (e.g. "boundary (singular) fit").
fit_quietly <- function(formula, data, nAGQ, control = glmerControl()) {
  notes <- character()
  fit <- withCallingHandlers(
    glmer(formula, data = data, family = binomial, nAGQ = nAGQ, control = control),
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

named <- function(x) as.list(setNames(as.numeric(x), names(x)))

describe_fit <- function(s, data) {
  formula <- as.formula(s$formula)
  times <- numeric(s$reps)
  for (r in seq_len(s$reps)) {
    times[r] <- system.time(result <- fit_quietly(formula, data, s$nAGQ))[["elapsed"]]
  }
  fit <- result$fit
  theta <- getME(fit, "theta")
  beta <- fixef(fit)
  vc <- VarCorr(fit)[[1]]
  group <- names(getME(fit, "flist"))[1]
  re <- ranef(fit, condVar = TRUE)[[group]]
  post <- attr(re, "postVar")  # q x q x groups

  # glmer's vcov() differentiates (deriv12, step 1e-4) a deviance whose PIRLS stops at
  # tolPwrss = 1e-7, so its Hessian carries noise, and on small data the unconverged
  # PIRLS shifts the deviance itself by ~1e-4. A reference without either: glmer
  # refitted with tolPwrss = 1e-10, and its deviance function differentiated with
  # step 1e-3 at that optimum.
  tight <- glmerControl(tolPwrss = 1e-10)
  converged <- tryCatch({
    refit <- fit_quietly(formula, data, s$nAGQ, control = tight)$fit
    devfun <- suppressMessages(suppressWarnings(glmer(
      formula, data = data, family = binomial, nAGQ = s$nAGQ, control = tight, devFunOnly = TRUE)))
    pars <- c(getME(refit, "theta"), fixef(refit))
    precise <- lme4:::deriv12(devfun, pars, delta = 1e-3)$Hessian
    list(
      loglik = as.numeric(logLik(refit)),
      theta = unname(getME(refit, "theta")),
      fixef = named(fixef(refit)),
      sd = named(attr(VarCorr(refit)[[1]], "stddev")),
      corr = unname(attr(VarCorr(refit)[[1]], "correlation")),
      se = named(setNames(sqrt(diag(vcov_from_hessian(precise, length(theta)))), names(beta)))
    )
  }, error = function(e) list(error = conditionMessage(e)))

  list(
    name = s$name, data = s$data, formula = s$formula, nAGQ = s$nAGQ,
    group = group,
    n_obs = nobs(fit), n_groups = nlevels(getME(fit, "flist")[[1]]),
    fixef = named(beta),
    se = named(sqrt(diag(as.matrix(vcov(fit))))),
    # vcov() warns here that the RX and Hessian versions differ: that is expected.
    se_rx = named(sqrt(diag(as.matrix(suppressWarnings(vcov(fit, use.hessian = FALSE)))))),
    converged_pirls = converged,
    vcov = unname(as.matrix(vcov(fit))),
    theta = unname(theta),
    sd = named(attr(vc, "stddev")),
    corr = unname(attr(vc, "correlation")),
    random_cov = unname(as.matrix(vc)),
    loglik = as.numeric(logLik(fit)),
    deviance = -2 * as.numeric(logLik(fit)),
    aic = AIC(fit), bic = BIC(fit),
    df_resid = df.residual(fit),
    singular = isSingular(fit),
    notes = result$notes,
    hessian = unname(fit@optinfo$derivs$Hessian),
    ranef = list(
      levels = I(rownames(re)), terms = I(colnames(re)),
      modes = unname(as.matrix(re)),
      condvar = lapply(seq_len(dim(post)[3]), function(j) unname(post[, , j, drop = TRUE]))
    ),
    seconds = median(times), seconds_all = times
  )
}

data_sets <- list()
fits <- list()
for (s in specs) {
  if (is.null(data_sets[[s$data]])) data_sets[[s$data]] <- reference_data(s$data)
  cat(sprintf("%-34s nAGQ=%2d  ", s$name, s$nAGQ))
  fits[[s$name]] <- describe_fit(s, data_sets[[s$data]])
  cat(sprintf("logLik %.6f  %.2fs\n", fits[[s$name]]$loglik, fits[[s$name]]$seconds))
}

write_fixture(fits, "tests/reference/glmer_reference.json")
