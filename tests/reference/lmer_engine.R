# lme4 reference fits for the mixed-model engine (multilevel.lmer; issue 9): what the engine
# adds beyond the chapters' models. Compared in tests/test_mixed_reference.py.
#   - nested terms (1 | batch/cask) and the same written (1 | batch) + (1 | batch:cask) (Pastes);
#   - uncorrelated (Days || Subject) beside the correlated (Days | Subject) (sleepstudy);
#   - crossed factors: Penicillin (plate x sample) and InstEval (students x lecturers x departments);
#   - profile confidence intervals (confint(method = "profile"), lme4's oldNames = FALSE row names);
#   - predict(): fitted rows, new rows of known subjects, re.form = NA, a new subject;
#   - anova(m0, m1) of two REML fits (lme4 refits both with ML).
#
# Run from the repository root after `python tests/reference/export_data.py`:
#   Rscript tests/reference/lmer_engine.R
#
# Each fit is described twice over: the numbers come from lmer with a tight optimiser stop
# (bobyqa, rhoend = 1e-10, as lmer_schools.R explains: the default stop leaves the flat
# directions uncertain in the third digit); `seconds` is the median time of lmer with its
# default control, the time a user gets and the one the benchmark compares with
# (`seconds_tight` is the tight fit's). InstEval is timed once.
source("tests/reference/common.R")

sleep <- reference_data("sleepstudy")
sleep$Subject <- factor(sleep$Subject)
pastes <- reference_data("pastes")          # batch A..J, cask a..c within batch
penicillin <- reference_data("penicillin")  # plate a..x crossed with sample A..F
insteval <- reference_data("insteval")
for (column in c("s", "d", "dept", "service")) insteval[[column]] <- factor(insteval[[column]])

spec <- function(data, formula, REML = TRUE, times = 3L, profile = FALSE) {
  list(data = data, formula = formula, REML = REML, times = as.integer(times), profile = profile)
}

specs <- list(
  sleepstudy_slope_reml = spec("sleepstudy", Reaction ~ Days + (Days | Subject), profile = TRUE),
  sleepstudy_slope_ml = spec("sleepstudy", Reaction ~ Days + (Days | Subject), REML = FALSE,
                             profile = TRUE),
  sleepstudy_uncorrelated_reml = spec("sleepstudy", Reaction ~ Days + (Days || Subject)),
  sleepstudy_uncorrelated_ml = spec("sleepstudy", Reaction ~ Days + (Days || Subject),
                                    REML = FALSE),
  sleepstudy_intercept_reml = spec("sleepstudy", Reaction ~ Days + (1 | Subject)),
  pastes_nested_reml = spec("pastes", strength ~ 1 + (1 | batch/cask), profile = TRUE),
  pastes_nested_ml = spec("pastes", strength ~ 1 + (1 | batch/cask), REML = FALSE),
  pastes_interaction_reml = spec("pastes", strength ~ 1 + (1 | batch) + (1 | batch:cask)),
  penicillin_crossed_reml = spec("penicillin", diameter ~ 1 + (1 | plate) + (1 | sample)),
  penicillin_crossed_ml = spec("penicillin", diameter ~ 1 + (1 | plate) + (1 | sample),
                               REML = FALSE),
  insteval_crossed_reml = spec("insteval", y ~ 1 + (1 | s) + (1 | d) + (1 | dept), times = 1)
)
data_sets <- list(sleepstudy = sleep, pastes = pastes, penicillin = penicillin,
                  insteval = insteval)

# describe_merMod() (common.R) reads ranef(condVar = TRUE)'s "postVar" as one q x q x levels
# array per factor; for a factor with several terms, as (Days || Subject) makes, lme4 1.1-31
# gives a list of arrays, one per term. This ranef() (found before lme4's by describe_merMod)
# joins them into the block-diagonal array: the terms are independent a posteriori.
ranef <- function(object, ...) {
  re <- lme4::ranef(object, ...)
  for (g in names(re)) {
    pv <- attr(re[[g]], "postVar")
    if (is.list(pv)) {
      sizes <- vapply(pv, function(a) dim(a)[1], integer(1))
      joined <- array(0, c(sum(sizes), sum(sizes), dim(pv[[1]])[3]))
      at <- cumsum(c(0, sizes))
      for (k in seq_along(pv)) {
        idx <- at[k] + seq_len(sizes[k])
        joined[idx, idx, ] <- pv[[k]]
      }
      attr(re[[g]], "postVar") <- joined
    }
  }
  re
}

tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10))

named <- function(x) as.list(setNames(as.numeric(x), names(x)))

# confint(method = "profile") as a named list of {lower, upper} per row (lme4's row names).
profile_ci <- function(fit) {
  ci <- suppressMessages(suppressWarnings(confint(fit, method = "profile", oldNames = FALSE)))
  lapply(setNames(seq_len(nrow(ci)), rownames(ci)),
         function(i) list(lower = ci[i, 1], upper = ci[i, 2]))
}

# Quietly fit, keeping lmer's messages and warnings (e.g. "boundary (singular) fit").
fit_quietly <- function(s, control) {
  notes <- character()
  fit <- withCallingHandlers(
    lmer(s$formula, data = data_sets[[s$data]], REML = s$REML, control = control),
    warning = function(w) { notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { notes <<- c(notes, trimws(conditionMessage(m))); invokeRestart("muffleMessage") }
  )
  list(fit = fit, notes = unique(notes))
}

fitted_models <- list()
fits <- list()
for (name in names(specs)) {
  s <- specs[[name]]
  # median_seconds() as in common.R, keeping the default fit itself.
  seconds <- median(vapply(seq_len(s$times), function(i) {
    system.time(default_fit <<- fit_quietly(s, lmerControl())$fit)[["elapsed"]]
  }, numeric(1)))
  seconds_tight <- system.time(result <- fit_quietly(s, tight))[["elapsed"]]
  fit <- result$fit
  fitted_models[[name]] <- fit
  entry <- c(
    # `model`: the formula as written (lme4 expands || and / in `formula`).
    list(name = name, data = s$data, model = paste(deparse(s$formula, width.cutoff = 500L), collapse = ""), times = s$times),
    describe_merMod(fit, seconds),
    list(
      median_seconds = seconds,
      seconds_tight = seconds_tight,
      # The machine's 1-minute load average when timed (2 cores, shared): times taken at a
      # load well above 2 are inflated and should be re-measured before a comparison.
      load_average = as.numeric(scan("/proc/loadavg", what = "", n = 1, quiet = TRUE)),
      theta = unname(getME(fit, "theta")),
      theta_names = names(getME(fit, "theta")),
      vcov = unname(as.matrix(vcov(fit))),
      deviance = -2 * as.numeric(logLik(fit)),   # the REML criterion for REML fits
      converged = is.null(fit@optinfo$conv$lme4$messages),
      notes = result$notes,
      default_control = list(loglik = as.numeric(logLik(default_fit)),
                             fixef = named(fixef(default_fit)),
                             theta = unname(getME(default_fit, "theta")))
    )
  )
  # On a fresh fit: profile() leaves the fitted object's mutable internals (its predictor's
  # random effects) changed, and predict(newdata = ...) on it afterwards is wrong.
  if (s$profile) entry$profile_ci <- profile_ci(fit_quietly(s, tight)$fit)
  fits[[name]] <- entry
  cat(sprintf("%-30s logLik %.6f  theta %s  %.3fs (tight %.3fs)\n", name,
              entry$loglik, paste(sprintf("%.5f", entry$theta), collapse = " "),
              seconds, seconds_tight))
}

# ---------------------------------------------------------------- predict
# Rows of known subjects (Days beyond the study's 0..9 too), a new subject beside known ones.
slope <- fitted_models$sleepstudy_slope_reml
known <- data.frame(Subject = c(308, 309, 330, 372, 372), Days = c(0, 5, 10, 12.5, 3))
unseen <- data.frame(Subject = c(999, 308, 999), Days = c(0, 3, 7.5))
as_rows <- function(df) lapply(seq_len(nrow(df)), function(i) as.list(df[i, ]))
with_factor <- function(df) { df$Subject <- factor(df$Subject); df }
fits$sleepstudy_slope_reml$predict <- list(
  fitted = unname(predict(slope)),
  fitted_population = unname(predict(slope, re.form = NA)),
  known_newdata = as_rows(known),
  known = unname(predict(slope, newdata = with_factor(known))),
  known_population = unname(predict(slope, newdata = with_factor(known), re.form = NA)),
  new_level_newdata = as_rows(unseen),
  new_level = unname(predict(slope, newdata = with_factor(unseen), allow.new.levels = TRUE))
)
# predict() must refuse the new subject unless allowed: record lme4's message.
fits$sleepstudy_slope_reml$predict$new_level_error <- tryCatch(
  { predict(slope, newdata = with_factor(unseen)); NA },
  error = function(e) conditionMessage(e))

# ---------------------------------------------------------------- anova
# anova() of two REML fits with the same fixed effects: lme4 refits both with ML (its default
# refit = TRUE) and reports the chi-squared test of the extra variance and covariance.
table_rows <- function(tab) {
  lapply(setNames(seq_len(nrow(tab)), rownames(tab)), function(i) {
    row <- as.list(tab[i, ])
    names(row) <- colnames(tab)
    lapply(row, function(v) if (is.na(v)) NA else unname(v))
  })
}
anova_models <- c("sleepstudy_intercept_reml", "sleepstudy_slope_reml")
anova_tab <- suppressMessages(anova(fitted_models$sleepstudy_intercept_reml,
                                    fitted_models$sleepstudy_slope_reml))
fits$anova_sleepstudy <- list(
  name = "anova_sleepstudy",
  models = anova_models,
  refitted_ML = TRUE,
  table = table_rows(`rownames<-`(anova_tab, anova_models)),
  Chisq = anova_tab$Chisq[2], Df = anova_tab$Df[2], p = anova_tab[["Pr(>Chisq)"]][2]
)
cat(sprintf("anova sleepstudy: Chisq %.6f  Df %d  p %.6g\n", anova_tab$Chisq[2],
            anova_tab$Df[2], anova_tab[["Pr(>Chisq)"]][2]))

# Two REML fits whose fixed effects differ (Days dropped): the refit matters here.
no_days <- fit_quietly(spec("sleepstudy", Reaction ~ 1 + (Days | Subject)), tight)$fit
anova_models <- c("sleepstudy_no_days_reml", "sleepstudy_slope_reml")
anova_tab <- suppressMessages(anova(no_days, fitted_models$sleepstudy_slope_reml))
fits$anova_sleepstudy_fixed <- list(
  name = "anova_sleepstudy_fixed",
  models = anova_models,
  model_formulas = c("Reaction ~ 1 + (Days | Subject)", "Reaction ~ Days + (Days | Subject)"),
  refitted_ML = TRUE,
  table = table_rows(`rownames<-`(anova_tab, anova_models)),
  Chisq = anova_tab$Chisq[2], Df = anova_tab$Df[2], p = anova_tab[["Pr(>Chisq)"]][2]
)
cat(sprintf("anova sleepstudy (fixed effects differ): Chisq %.6f  Df %d  p %.6g\n",
            anova_tab$Chisq[2], anova_tab$Df[2], anova_tab[["Pr(>Chisq)"]][2]))

write_fixture(fits, "tests/reference/lmer_engine.json")
