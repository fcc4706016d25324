# lme4 reference values for the random-effects chapters: the students-and-exams data
# (uncorrelated and correlated designs, and the Mundlak model with the student mean of
# hours) and the Vella-Verbeek wage panel (random effects and its Mundlak version).
# Also lme4's profile confidence intervals for the students model, the interval the
# random-effects chapter's parametric bootstrap is checked against.
# Run from the repository root: Rscript tests/reference/lmer_students.R
source("tests/reference/common.R")

add_means <- function(df, columns, group) {
  for (column in columns) {
    df[[paste0(column, "_mean")]] <- ave(df[[column]], df[[group]], FUN = mean)
  }
  df
}

students <- reference_data("students_exams")
students$student <- factor(students$student)
correlated <- add_means(reference_data("students_exams_correlated"), "hours", "student")
correlated$student <- factor(correlated$student)
wages <- add_means(reference_data("wage_panel"), c("union", "married", "exper", "expersq"), "nr")
wages$nr <- factor(wages$nr)

specs <- list(
  students_reml = list(data = students, formula = score ~ hours + (1 | student)),
  correlated_reml = list(data = correlated, formula = score ~ hours + (1 | student)),
  correlated_mundlak_reml = list(data = correlated,
                                 formula = score ~ hours + hours_mean + (1 | student)),
  wage_re_reml = list(data = wages,
                      formula = lwage ~ union + married + exper + expersq + educ + black + hisp +
                        (1 | nr)),
  wage_mundlak_reml = list(data = wages,
                           formula = lwage ~ union + married + exper + expersq + educ + black +
                             hisp + union_mean + married_mean + exper_mean + expersq_mean +
                             (1 | nr))
)

fits <- lapply(specs, function(s) {
  fit_once <- function() lmer(s$formula, data = s$data, REML = TRUE)
  describe_merMod(fit_once(), median_seconds(fit_once))
})

# Profile intervals (95%) for the students model: .sig01 is sigma_alpha, .sigma sigma_eps.
profile_ci <- confint(lmer(score ~ hours + (1 | student), data = students, REML = TRUE),
                      method = "profile", level = 0.95)
fits$students_reml$profile_ci <- lapply(
  setNames(seq_len(nrow(profile_ci)), rownames(profile_ci)),
  function(i) list(lower = profile_ci[i, 1], upper = profile_ci[i, 2])
)

write_fixture(fits, "tests/reference/lmer_students.json")
