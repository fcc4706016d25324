# Shared helpers for the lme4 reference scripts in this folder.
# Each script sources this file, fits its models, and writes one JSON fixture that
# the Python tests compare against. Run any script from the repository root, e.g.
#   Rscript tests/reference/lmer_foundation.R
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

reference_data <- function(name) {
  # CSV files written by tests/reference/export_data.py (or shipped in data/).
  for (dir in c("tests/reference/data", "data")) {
    path <- file.path(dir, paste0(name, ".csv"))
    if (file.exists(path)) return(read.csv(path, stringsAsFactors = TRUE))
  }
  stop("no CSV named ", name, "; run `python tests/reference/export_data.py` first")
}

median_seconds <- function(expr_fun, times = 3) {
  median(vapply(seq_len(times), function(i) system.time(expr_fun())[["elapsed"]], numeric(1)))
}

describe_merMod <- function(fit, seconds = NA_real_) {
  vc <- as.data.frame(VarCorr(fit))
  re <- ranef(fit, condVar = TRUE)
  modes <- lapply(names(re), function(g) {
    m <- re[[g]]
    pv <- attr(m, "postVar")
    cond_sd <- t(apply(pv, 3, function(s) sqrt(diag(as.matrix(s)))))
    if (nrow(cond_sd) == 1 && nrow(m) > 1) cond_sd <- t(cond_sd)
    list(group = rownames(m), terms = colnames(m), mode = unname(as.matrix(m)),
         cond_sd = unname(matrix(cond_sd, nrow = nrow(m))))
  })
  names(modes) <- names(re)
  ll <- logLik(fit)
  list(
    formula = paste(deparse(formula(fit), width.cutoff = 500L), collapse = ""),
    reml = isREML(fit),
    nobs = nobs(fit),
    ngroups = as.list(ngrps(fit)),
    fixef = as.list(fixef(fit)),
    se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
    varcorr = lapply(seq_len(nrow(vc)), function(i) as.list(vc[i, ])),
    sigma = sigma(fit),
    loglik = as.numeric(ll),
    df = attr(ll, "df"),
    aic = AIC(fit),
    bic = BIC(fit),
    singular = isSingular(fit),
    ranef = modes,
    seconds = seconds
  )
}

write_fixture <- function(fits, path) {
  out <- list(
    generated_by = sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)),
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    fits = fits
  )
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
  cat("wrote", path, "with", length(fits), "fits\n")
}
