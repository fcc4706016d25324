# lme4 reference values for the chapter "More levels and crossed classifications"
# (chapters/levels-and-crossed.md): three nested levels in Tennessee STAR kindergarten
# (pupils in classes in schools) and crossed primary and secondary schools in ScotsSec.
# Run from the repository root after `python tests/reference/export_data.py`:
#   Rscript tests/reference/lmer_levels.R
source("tests/reference/common.R")

star <- reference_data("star_kindergarten")
# Teacher ids are unique across schools, so (1 | sch) + (1 | tch) is the nested
# model (1 | sch/tch). "reg" (regular class) is the first level: the baseline.
star$sch <- factor(star$sch)
star$tch <- factor(star$tch)
star$cltype <- relevel(factor(star$cltype), ref = "reg")
# School type: inner city is the baseline, as in the chapter's 0/1 columns.
star$schtype <- relevel(factor(star$schtype), ref = "inner")

scots <- reference_data("scots_secondary")
scots$primary <- factor(scots$primary)
scots$second <- factor(scots$second)
scots$sex <- relevel(factor(scots$sex), ref = "F")

specs <- list(
  star_empty_reml = list(data = star, REML = TRUE,
                         formula = math ~ 1 + (1 | sch) + (1 | tch)),
  star_cltype_reml = list(data = star, REML = TRUE,
                          formula = math ~ cltype + (1 | sch) + (1 | tch)),
  star_cltype_ml = list(data = star, REML = FALSE,
                        formula = math ~ cltype + (1 | sch) + (1 | tch)),
  star_schtype_reml = list(data = star, REML = TRUE,
                           formula = math ~ cltype + schtype + (1 | sch) + (1 | tch)),
  star_cltype_school_reml = list(data = star, REML = TRUE,
                                 formula = math ~ cltype + (1 | sch)),
  star_cltype_class_reml = list(data = star, REML = TRUE,
                                formula = math ~ cltype + (1 | tch)),
  scots_empty_reml = list(data = scots, REML = TRUE,
                          formula = attain ~ 1 + (1 | primary) + (1 | second)),
  scots_crossed_reml = list(data = scots, REML = TRUE,
                            formula = attain ~ verbal + sex + (1 | primary) + (1 | second)),
  scots_crossed_ml = list(data = scots, REML = FALSE,
                          formula = attain ~ verbal + sex + (1 | primary) + (1 | second)),
  scots_second_reml = list(data = scots, REML = TRUE,
                           formula = attain ~ verbal + sex + (1 | second)),
  scots_primary_reml = list(data = scots, REML = TRUE,
                            formula = attain ~ verbal + sex + (1 | primary))
)

fits <- lapply(specs, function(s) {
  fit_once <- function() lmer(s$formula, data = s$data, REML = s$REML)
  describe_merMod(fit_once(), median_seconds(fit_once))
})
write_fixture(fits, "tests/reference/lmer_levels.json")
