# lavaan 0.6.14 references for MLR's robust RMSEA interval (issue 14 item 8):
# rmsea.robust, rmsea.ci.lower.robust, rmsea.ci.upper.robust, rmsea.pvalue.robust beside the
# scaled test and the robust CFI/TLI, for
#   hs:        Holzinger-Swineford 3-factor CFA, complete data (the model of hs_cfa_mlr.json)
#   hs_school: the same CFA by school (two groups: the sqrt(G) correction)
#   fiml:      telecom NQ -> PV -> CCI with missing = "ml" (Zhang & Savalei's corrected
#              statistic and scaling factor)
# usage (from the repo root): Rscript tests/data/robust_rmsea.R -> tests/data/robust_rmsea.json
suppressMessages({library(lavaan); library(jsonlite)})
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
tel <- read.csv("tests/data/telecom_1500.csv")
hs_model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
nq <- "NQ =~ NQ1 + NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nPV ~ NQ\nCCI ~ PV"
FM <- c("npar", "chisq", "df", "chisq.scaled", "df.scaled", "chisq.scaling.factor",
        "cfi.robust", "tli.robust", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
        "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust",
        "rmsea.pvalue.robust")
one <- function(f, ...) c(list(...), as.list(fitMeasures(f, FM)))
res <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  hs = one(cfa(hs_model, data = hs, estimator = "MLR"), model = hs_model, missing = "listwise"),
  hs_school = one(cfa(hs_model, data = hs, estimator = "MLR", group = "school"),
                  model = hs_model, missing = "listwise", group = "school"),
  fiml = one(sem(nq, data = tel, estimator = "MLR", missing = "ml"), model = nq,
             missing = "fiml")
)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/data/robust_rmsea.json")
