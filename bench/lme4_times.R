# glmer's time on the bench's simulated logit that the fixture scripts do not fit (issue 9, "Speed").
#
# The rows come from bench/mixed.py (`python bench/mixed.py --write-data` writes them under the
# system's temporary folder, seeded); this script fits them with lme4's defaults, times each fit
# with system.time (elapsed seconds, the median of `times` runs), and writes bench/lme4_times.json,
# which bench/mixed.py reads. Run from the repository root, single-threaded as `make bench` runs:
#   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 Rscript bench/lme4_times.R
# Every other lme4 time in the bench comes from the fixtures in tests/reference/*.json.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

folder <- file.path(Sys.getenv("TMPDIR", "/tmp"), "multilevel-bench")
read_rows <- function(name) {
  path <- file.path(folder, paste0(name, ".csv"))
  if (!file.exists(path)) stop("no ", path, "; run `python bench/mixed.py --write-data` first")
  frame <- read.csv(path)
  frame$g <- factor(frame$g)
  frame
}

time_glmer <- function(name, formula, times) {
  rows <- read_rows(name)
  seconds <- numeric(times)
  for (i in seq_len(times)) {
    seconds[i] <- system.time(fit <- glmer(formula, data = rows, family = binomial))[["elapsed"]]
  }
  ll <- logLik(fit)
  cat(sprintf("%-22s %8d rows  %7.2f s  logLik %.6f\n", name, nrow(rows), median(seconds),
              as.numeric(ll)))
  list(data = name, formula = paste(deparse(formula), collapse = ""), nobs = nobs(fit),
       seconds = median(seconds), times = times, loglik = as.numeric(ll),
       fixef = as.list(fixef(fit)), theta = unname(getME(fit, "theta")),
       converged = is.null(fit@optinfo$conv$lme4$messages))
}

fits <- list(
  logit_200k = time_glmer("logit_200k", y ~ x + (1 | g), times = 1)
)
out <- list(generated_by = "bench/lme4_times.R", r_version = R.version.string,
            lme4_version = as.character(packageVersion("lme4")), fits = fits)
write_json(out, "bench/lme4_times.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
