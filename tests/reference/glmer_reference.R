# Reference fits from lme4's glmer for tests/test_glmm.py and bench/fits.py.
#
# Run from the repository root:   Rscript tests/reference/glmer_reference.R
# It reads the CSV files named in `specs`, fits each model with glmer
# (family = binomial, logit link) and writes tests/reference/glmer_reference.json.
# Every number the Python tests compare with comes from here; none is typed by hand.
#
# To add a model, append one entry to `specs` (a data set is read once however
# many models use it):
#   name     unique id the tests use
#   data     CSV path relative to the repository root
#   formula  lme4 formula with one (... | group) term
#   nAGQ     1 = Laplace (glmer's default); > 1 = adaptive Gauss-Hermite quadrature
#   reps     how many timed fits (the median elapsed time is recorded)

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

spec <- function(name, data, formula, nAGQ = 1L, reps = 1L) {
  list(name = name, data = data, formula = formula, nAGQ = as.integer(nAGQ), reps = as.integer(reps))
}

red_blue <- "data/red_blue_simulated.csv"
few <- "tests/reference/glmm_few_groups.csv"
singular <- "tests/reference/glmm_singular.csv"
mid <- "tests/reference/glmm_two_covariates.csv"

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
fit_quietly <- function(formula, data, nAGQ, ...) {
  notes <- character()
  fit <- withCallingHandlers(
    glmer(formula, data = data, family = binomial, nAGQ = nAGQ, ...),
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

  # glmer's own vcov uses deriv12 with step 1e-4 on a deviance that PIRLS converges
  # only to tolPwrss, so its Hessian carries finite-difference noise. The same
  # deviance function, differentiated with step 1e-3, gives a precise reference.
  devfun <- suppressMessages(suppressWarnings(
    glmer(formula, data = data, family = binomial, nAGQ = s$nAGQ, devFunOnly = TRUE)))
  precise <- lme4:::deriv12(devfun, c(theta, beta), delta = 1e-3)$Hessian
  se_precise <- sqrt(diag(vcov_from_hessian(precise, length(theta))))

  list(
    name = s$name, data = s$data, formula = s$formula, nAGQ = s$nAGQ,
    group = group,
    n_obs = nobs(fit), n_groups = nlevels(getME(fit, "flist")[[1]]),
    fixef = named(beta),
    se = named(sqrt(diag(as.matrix(vcov(fit))))),
    se_rx = named(sqrt(diag(as.matrix(vcov(fit, use.hessian = FALSE))))),
    se_precise_hessian = as.list(setNames(se_precise, names(beta))),
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
      levels = rownames(re), terms = colnames(re),
      modes = unname(as.matrix(re)),
      condvar = lapply(seq_len(dim(post)[3]), function(j) unname(post[, , j, drop = TRUE]))
    ),
    seconds = median(times), seconds_all = times
  )
}

data_sets <- list()
fits <- list()
for (s in specs) {
  if (is.null(data_sets[[s$data]])) data_sets[[s$data]] <- read.csv(s$data)
  cat(sprintf("%-34s nAGQ=%2d  ", s$name, s$nAGQ))
  fits[[s$name]] <- describe_fit(s, data_sets[[s$data]])
  cat(sprintf("logLik %.6f  %.2fs\n", fits[[s$name]]$loglik, fits[[s$name]]$seconds))
}

out <- list(
  generated_by = "Rscript tests/reference/glmer_reference.R",
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  fits = fits
)
write_json(out, "tests/reference/glmer_reference.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("wrote tests/reference/glmer_reference.json\n")
