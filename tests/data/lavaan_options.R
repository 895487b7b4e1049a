# lavaan 0.6.14 references for pvm's further lavaan options (issue 15, item 3): std.lv and the
# MLM estimator (ML with robust.sem standard errors and the Satorra-Bentler scaled test), GLS, ULS and
# missing = "pairwise" (telecom_1500's NQ items, often not answered) on the
# Holzinger-Swineford CFA (one group and by school), political democracy and the ECSI model (mobi).
# usage (from the repo root): Rscript tests/data/lavaan_options.R -> tests/data/lavaan_options.json
suppressMessages({library(lavaan); library(jsonlite)})
HS <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
PD <- "ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\ndem65 =~ y5 + y6 + y7 + y8\ndem60 ~ ind60\ndem65 ~ ind60 + dem60\ny1 ~~ y5\ny2 ~~ y4 + y6\ny3 ~~ y7\ny4 ~~ y8\ny6 ~~ y8"
src <- readLines("tests/data/convergence.R")
eval(parse(text = src[grep("^MOBI <-", src):(grep("^HS <-", src) - 1)]))
FM <- c("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl")
FMS <- c(FM, "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
         "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi.scaled", "tli.scaled",
         "rmsea.scaled", "cfi.robust", "tli.robust", "rmsea.robust")
case <- function(fit, csv, model, options, measures = FM) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  pe <- pe[pe$op != "==", ]
  gl <- lavInspect(fit, "group.label")
  list(csv = csv, model = model, options = options,
       fit = as.list(fitMeasures(fit, measures)),
       estimates = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs,
                              group = if (length(gl)) gl[pe$group] else NA,
                              est = pe$est, se = pe$se, std.all = pe$std.all))
}
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
pd <- read.csv("tests/data/political_democracy.csv")
mobi <- read.csv("tests/data/mobi.csv")
telecom <- read.csv("tests/data/telecom_1500.csv")
NQ <- "NQ =~ NQ1 + NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nPV ~ NQ\nCCI ~ PV"
H <- "holzinger_swineford_1939.csv"
out <- list(
  hs_std_lv = case(cfa(HS, hs, std.lv = TRUE), H, HS, list(std_lv = TRUE, missing = "listwise")),
  hs_std_lv_groups = case(cfa(HS, hs, std.lv = TRUE, group = "school", group.equal = "loadings"),
                          H, HS, list(std_lv = TRUE, missing = "listwise", group = "school",
                                      group_equal = "loadings")),
  hs_std_lv_fiml = case(cfa(HS, hs, std.lv = TRUE, missing = "ml"), H, HS,
                        list(std_lv = TRUE, missing = "fiml")),
  hs_mlm = case(cfa(HS, hs, estimator = "MLM"), H, HS,
                list(estimator = "MLM", missing = "listwise"), FMS),
  hs_mlm_groups = case(cfa(HS, hs, estimator = "MLM", group = "school", group.equal = "loadings"),
                       H, HS, list(estimator = "MLM", missing = "listwise", group = "school",
                                   group_equal = "loadings"), FMS),
  pd_mlm = case(sem(PD, pd, estimator = "MLM"), "political_democracy.csv", PD,
                list(estimator = "MLM", missing = "listwise"), FMS),
  hs_gls = case(cfa(HS, hs, estimator = "GLS"), H, HS,
                list(estimator = "GLS", missing = "listwise"), FM[FM != "logl"]),
  hs_gls_groups = case(cfa(HS, hs, estimator = "GLS", group = "school"), H, HS,
                       list(estimator = "GLS", missing = "listwise", group = "school"),
                       FM[FM != "logl"]),
  pd_gls = case(sem(PD, pd, estimator = "GLS"), "political_democracy.csv", PD,
                list(estimator = "GLS", missing = "listwise"), FM[FM != "logl"]),
  hs_uls = case(cfa(HS, hs, estimator = "ULS"), H, HS,
                list(estimator = "ULS", missing = "listwise"), FM[FM != "logl"]),
  hs_uls_groups = case(cfa(HS, hs, estimator = "ULS", group = "school"), H, HS,
                       list(estimator = "ULS", missing = "listwise", group = "school"),
                       FM[FM != "logl"]),
  pd_uls = case(sem(PD, pd, estimator = "ULS"), "political_democracy.csv", PD,
                list(estimator = "ULS", missing = "listwise"), FM[FM != "logl"]),
  telecom_pairwise = case(sem(NQ, telecom, missing = "pairwise"), "telecom_1500.csv", NQ,
                          list(missing = "pairwise")),
  telecom_pairwise_groups = case(sem(NQ, telecom, missing = "pairwise", group = "customer_type",
                                     group.equal = "loadings"), "telecom_1500.csv", NQ,
                                 list(missing = "pairwise", group = "customer_type",
                                      group_equal = "loadings")),
  mobi_mlm = case(sem(MOBI, mobi, estimator = "MLM"), "mobi.csv", MOBI,
                  list(estimator = "MLM", missing = "listwise"), FMS)
)
write_json(c(list(lavaan_version = as.character(packageVersion("lavaan"))), out),
           "tests/data/lavaan_options.json", auto_unbox = TRUE, digits = 12, pretty = TRUE,
           na = "null")
cat("wrote lavaan_options.json\n")
