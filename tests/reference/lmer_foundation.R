# lme4 reference values for the helper package's linear mixed-model fitters
# (multilevel.models.fit_random_intercept and fit_mixed) and the structures chapter.
source("tests/reference/common.R")

students <- reference_data("students_exams")
students$student <- factor(students$student)
tiny <- reference_data("students_tiny_variance")
tiny$student <- factor(tiny$student)
hsb <- reference_data("hsb82")
hsb$school <- factor(hsb$school)

specs <- list(
  students_ri_reml = list(data = students, formula = score ~ hours + (1 | student), REML = TRUE),
  students_ri_ml = list(data = students, formula = score ~ hours + (1 | student), REML = FALSE),
  tiny_variance_reml = list(data = tiny, formula = score ~ hours + (1 | student), REML = TRUE),
  hsb_empty_reml = list(data = hsb, formula = mAch ~ 1 + (1 | school), REML = TRUE),
  hsb_ses_reml = list(data = hsb, formula = mAch ~ ses + (1 | school), REML = TRUE),
  hsb_ses_ml = list(data = hsb, formula = mAch ~ ses + (1 | school), REML = FALSE)
)

fits <- lapply(specs, function(s) {
  fit_once <- function() lmer(s$formula, data = s$data, REML = s$REML)
  describe_merMod(fit_once(), median_seconds(fit_once))
})
write_fixture(fits, "tests/reference/lmer_foundation.json")
