# Reference fits from R's glm for the pooling chapter (tests/test_redblue_pooling.py).
#
# Run from the repository root:   Rscript tests/reference/glm_redblue.R
# It reads data/red_blue_simulated.csv and fits, with glm(family = binomial):
#   pooled       vote ~ income                      (full pooling)
#   fixed        vote ~ income + stateFE - 1         (one dummy per state, no intercept:
#                                                     simcf::makeFEdummies(state))
#   no_pooling   vote ~ income, separately in each state, on all rows and on every
#                tenth row (rows 1, 11, 21, ...: the chapter's smaller poll)
# and writes tests/reference/glm_redblue.json. For the per-state fits it keeps what
# glm warned about; where the maximum-likelihood estimate does not exist (separation)
# glm still returns numbers, which the tests use to show that they are meaningless.

source("tests/reference/common.R")

quiet_glm <- function(formula, data, control = glm.control()) {
  notes <- character()
  fit <- withCallingHandlers(
    glm(formula, data = data, family = binomial, control = control),
    warning = function(w) { notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning") }
  )
  list(fit = fit, notes = unique(notes))
}

# glm stops IRLS when the deviance changes by less than 1e-8 (relative) and takes its
# covariance from the weights of its last iteration, one step behind the estimates;
# `se_converged` refits with a tolerance of 1e-14 (the Python fit converges fully).
describe_glm <- function(result, formula, data) {
  fit <- result$fit
  tight <- quiet_glm(formula, data, glm.control(epsilon = 1e-14, maxit = 100))$fit
  list(
    coef = as.list(coef(fit)),
    se = as.list(sqrt(diag(vcov(fit)))),
    se_converged = as.list(sqrt(diag(vcov(tight)))),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit),
    nobs = nobs(fit),
    converged = fit$converged,
    notes = I(result$notes)
  )
}

make_fe_dummies <- function(groups) {
  # One 0/1 column per group in sorted label order, as simcf::makeFEdummies returns.
  levels <- sort(unique(as.character(groups)))
  out <- sapply(levels, function(l) as.integer(as.character(groups) == l))
  colnames(out) <- levels
  out
}

per_state <- function(data) {
  states <- sort(unique(as.character(data$state)))
  out <- lapply(states, function(s) {
    rows <- data[as.character(data$state) == s, ]
    c(list(n = nrow(rows), share = mean(rows$vote)),
      describe_glm(quiet_glm(vote ~ income, rows), vote ~ income, rows))
  })
  names(out) <- states
  out
}

red_blue <- reference_data("red_blue_simulated")
red_blue$state <- as.character(red_blue$state)
stateFE <- make_fe_dummies(red_blue$state)
poll <- red_blue[seq(1, nrow(red_blue), by = 10), ]

fits <- list(
  pooled = c(list(formula = "vote ~ income"),
             describe_glm(quiet_glm(vote ~ income, red_blue), vote ~ income, red_blue)),
  fixed = c(list(formula = "vote ~ income + stateFE - 1"),
            describe_glm(quiet_glm(vote ~ income + stateFE - 1, red_blue),
                         vote ~ income + stateFE - 1, red_blue)),
  no_pooling_all = list(rows = nrow(red_blue), states = per_state(red_blue)),
  no_pooling_poll = list(rows = nrow(poll), states = per_state(poll))
)
write_fixture(fits, "tests/reference/glm_redblue.json")
