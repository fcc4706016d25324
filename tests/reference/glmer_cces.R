# lme4 reference fits for the 2016 CCES red-state, blue-state models
# (chapters/cces-2016.md; compared in tests/test_cces.py).
#
# Run from the repository root, after the export:
#   python tests/reference/export_data.py     # writes tests/reference/data/cces2016_vote_income.csv
#   Rscript tests/reference/glmer_cces.R      # writes tests/reference/glmer_cces.json
#
# The CSV holds multilevel.data.cces2016_vote_income(): two-party voters with a family
# income, income in five roughly-quintile groups coded -2..2, state_avg_income = the
# state's mean coded income, and 0/1 race indicators (white is the reference group).
# Every model is fitted with glmer (binomial, logit link, Laplace approximation, lme4's
# default control) and described with describe_merMod() from common.R; the fixture adds
# theta, glmer's messages, and the rows used (`subset`, an R expression or null).

source("tests/reference/common.R")

spec <- function(name, formula, subset = NULL) {
  list(name = name, formula = formula, subset = subset)
}

race <- "black + hispanic + other_race"
specs <- list(
  spec("cces_intercept", "vote ~ income + (1 | state)"),
  spec("cces_slope", "vote ~ income + (1 + income | state)"),
  spec("cces_cross_level", "vote ~ state_avg_income * income + (1 + income | state)"),
  spec("cces_slope_race", paste("vote ~ income +", race, "+ (1 + income | state)")),
  spec("cces_cross_level_race",
       paste("vote ~ state_avg_income * income +", race, "+ (1 + income | state)")),
  spec("cces_slope_white", "vote ~ income + (1 + income | state)", subset = "white == 1"),
  spec("cces_cross_level_white", "vote ~ state_avg_income * income + (1 + income | state)",
       subset = "white == 1")
)

cces <- reference_data("cces2016_vote_income")

fit_quietly <- function(formula, data) {
  notes <- character()
  fit <- withCallingHandlers(
    glmer(as.formula(formula), data = data, family = binomial),
    warning = function(w) { notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { notes <<- c(notes, trimws(conditionMessage(m))); invokeRestart("muffleMessage") }
  )
  list(fit = fit, notes = unique(notes))
}

fits <- list()
for (s in specs) {
  rows <- if (is.null(s$subset)) cces else cces[eval(parse(text = s$subset), cces), ]
  seconds <- system.time(result <- fit_quietly(s$formula, rows))[["elapsed"]]
  fit <- result$fit
  vc <- VarCorr(fit)[[1]]
  described <- describe_merMod(fit, seconds = seconds)
  fits[[s$name]] <- c(
    list(name = s$name, data = "cces2016_vote_income",
         subset = if (is.null(s$subset)) NA else s$subset,
         model = s$formula, theta = unname(getME(fit, "theta")),
         sd = as.list(attr(vc, "stddev")), corr = unname(attr(vc, "correlation")),
         notes = result$notes),
    described
  )
  cat(sprintf("%-24s n=%5d  logLik %.6f  singular %s  %.2fs\n", s$name, nobs(fit),
              as.numeric(logLik(fit)), isSingular(fit), seconds))
}

write_fixture(fits, "tests/reference/glmer_cces.json")
