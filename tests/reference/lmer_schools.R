# lme4 reference values for the chapter "Schools: random slopes and cross-level
# interactions" (chapters/schools.md) on High School and Beyond (mlmRev::Hsb82).
# Run from the repository root after `python tests/reference/export_data.py`:
#   Rscript tests/reference/lmer_schools.R
source("tests/reference/common.R")

hsb <- reference_data("hsb82")
hsb$school <- factor(hsb$school)
# Catholic = 1, public = 0, as the chapter codes sector.
hsb$catholic <- as.integer(hsb$sector == "Catholic")

# Group-mean-centred SES (cses) carries the within-school slope; meanses the between-school part.
full <- mAch ~ cses * meanses + cses * catholic
specs <- list(
  empty_reml = list(formula = mAch ~ 1 + (1 | school), REML = TRUE),
  empty_ml = list(formula = mAch ~ 1 + (1 | school), REML = FALSE),
  ses_ml = list(formula = mAch ~ ses + (1 | school), REML = FALSE),
  cses_ml = list(formula = mAch ~ cses + (1 | school), REML = FALSE),
  within_between_ml = list(formula = mAch ~ cses + meanses + (1 | school), REML = FALSE),
  contextual_ml = list(formula = mAch ~ ses + meanses + (1 | school), REML = FALSE),
  slope_ml = list(formula = mAch ~ cses + meanses + (1 + cses | school), REML = FALSE),
  level2_ml = list(formula = mAch ~ cses + meanses + catholic + (1 + cses | school), REML = FALSE),
  full_ml = list(formula = update(full, . ~ . + (1 + cses | school)), REML = FALSE),
  full_reml = list(formula = update(full, . ~ . + (1 + cses | school)), REML = TRUE),
  full_fixed_slope_ml = list(formula = update(full, . ~ . + (1 | school)), REML = FALSE),
  with_students_ml = list(formula = update(full, . ~ . + minrty + sx + (1 + cses | school)),
                          REML = FALSE),
  # The same model with uncentred SES: lme4 reports a singular fit (correlation +1).
  full_ses_reml = list(formula = mAch ~ ses * meanses + ses * catholic + (1 + ses | school),
                       REML = TRUE)
)

# lmer's default optimiser stops once the deviance changes by less than about 1e-6; on the
# random-slope models the likelihood is so flat in the slope direction that this leaves the
# slope SD and the correlation uncertain in the third digit (full_reml: correlation 0.3914
# at the default stop, 0.3909 at the optimum). The fixtures hold the optimum itself.
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10))

fits <- lapply(specs, function(s) {
  fit_once <- function() {
    suppressMessages(lmer(s$formula, data = hsb, REML = s$REML, control = tight))
  }
  describe_merMod(fit_once(), median_seconds(fit_once))
})
write_fixture(fits, "tests/reference/lmer_schools.json")
