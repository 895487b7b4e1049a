# lavaan 0.6.14 references for issue 14 item 5 (tests/stats/test_sem_invariance_labels.py).
# usage (from the repo root): Rscript tests/data/invariance_labels.R
# writes tests/data/invariance_labels.json with (telecom-pv's default model without the NQ
# construct, whose not-applicable answers leave too few complete rows; listwise ML)
#   shared:     telecom-pv's default model (labels a, b and ind := a*b) by customer_type as
#               lavaan fits it as written: a and b shared by the groups (npar, df)
#   levels:     configural, metric, scalar with the labels made group-specific
#               (a -> c(a__g1, a__g2, a__g3), ind__gk := a__gk*b__gk): what pvm's invariance
#               sequence fits; fit measures, lavTestLRT deltas, the configural defined values
#   partial:    the scalar level with group.partial = c("REL1~1", "TAN=~TAN2"), its fit and
#               lavTestLRT against the metric level, and the REL1 intercepts per group
suppressMessages({library(lavaan); library(jsonlite)})
d <- read.csv("tests/data/telecom_1500.csv")
model <- paste(readLines("instruments/telecom-pv.yaml"), collapse = "\n")
model <- sub("(?s).*default_model: \\|\n", "", model, perl = TRUE)
model <- gsub("(?m)^  ", "", model, perl = TRUE)
model <- sub("(?s)\n[a-z_]+:.*$", "", model, perl = TRUE)
# without the NQ construct, whose items allow "not applicable": complete data, listwise ML
model <- sub("NQ  =~ NQ1 + NQ2 + NQ3 + NQ4\n", "", model, fixed = TRUE)
model <- sub(" + NQ\n", "\n", model, fixed = TRUE)
groups <- unique(d$customer_type[!is.na(d$customer_type)])
G <- length(groups)
per_group <- function(lab) paste0("c(", paste0(lab, "__g", seq_len(G), collapse = ", "), ")")
mg <- model
mg <- sub("CCI ~ a*PV", paste0("CCI ~ ", per_group("a"), "*PV"), mg, fixed = TRUE)
mg <- sub("LOY ~ b*CCI", paste0("LOY ~ ", per_group("b"), "*CCI"), mg, fixed = TRUE)
mg <- sub("ind_PV_CCI_LOY := a*b",
          paste0("ind_PV_CCI_LOY__g", seq_len(G), " := a__g", seq_len(G), "*b__g", seq_len(G),
                 collapse = "\n"), mg, fixed = TRUE)
FM <- c("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr")
fit <- function(m, ge = "", gp = "") sem(m, data = d, group = "customer_type",
                                         missing = "listwise", group.equal = ge,
                                         group.partial = gp)
shared <- fit(model)
lev <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"))
fits <- lapply(lev, function(ge) fit(mg, ge))
rows <- list()
for (i in seq_along(fits)) {
  row <- c(list(level = names(lev)[i]), as.list(fitMeasures(fits[[i]], FM)))
  if (i > 1) {
    lrt <- lavTestLRT(fits[[i]], fits[[i - 1]])
    row$delta.chisq <- lrt[["Chisq diff"]][2]
    row$delta.df <- lrt[["Df diff"]][2]
  }
  rows[[i]] <- row
}
pe <- parameterEstimates(fits[[1]])
defs <- pe[pe$op == ":=", c("lhs", "est", "se")]
partial <- fit(mg, c("loadings", "intercepts"), c("REL1~1", "TAN=~TAN2"))
plrt <- lavTestLRT(partial, fits[[2]])
pp <- parameterEstimates(partial)
rel1 <- pp[pp$lhs == "REL1" & pp$op == "~1", ]
tan2 <- pp[pp$lhs == "TAN" & pp$op == "=~" & pp$rhs == "TAN2", ]
rel2 <- pp[pp$lhs == "REL2" & pp$op == "~1", ]
res <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  model = model, group = "customer_type", groups = groups, missing = "listwise",
  shared = as.list(fitMeasures(shared, c("npar", "df", "chisq"))),
  levels = rows,
  configural_defined = defs,
  partial = c(list(group_partial = c("REL1~1", "TAN=~TAN2")),
              as.list(fitMeasures(partial, FM)),
              list(delta.chisq = plrt[["Chisq diff"]][2], delta.df = plrt[["Df diff"]][2],
                   REL1_intercepts = rel1$est, TAN2_loadings = tan2$est,
                   REL2_intercepts = rel2$est))
)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/data/invariance_labels.json")
