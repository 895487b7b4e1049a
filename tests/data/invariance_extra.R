# Extra lavaan 0.6.14 references for tests/stats/test_sem_invariance.py.
# usage (from the repo root): Rscript tests/data/invariance_extra.R
# writes tests/data/invariance_extra.json with
#   strict_customer_type: the four levels (configural..strict) by customer_type, listwise ML,
#                         with lavTestLRT deltas between consecutive levels
#   branch:               the same four levels grouped by branch (8 branches in telecom_1500)
#   fiml:                 a model with the N/A-prone NQ items by customer_type, missing="ml"
#   path:                 CCI ~ PV equal across customer types (labels c(b,b,b)) vs free,
#                         lavTestLRT, and the free per-group estimates
suppressMessages({library(lavaan); library(jsonlite)})
d <- read.csv("tests/data/telecom_1500.csv")
core <- "PV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\nCCI ~ PV\nLOY ~ CCI + PV"
nq <- "NQ =~ NQ1 + NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nPV ~ NQ\nCCI ~ PV"
FM <- c("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl")
LEV <- list(configural = "none", metric = c("loadings"),
            scalar = c("loadings", "intercepts"),
            strict = c("loadings", "intercepts", "residuals"))

est_json <- function(f) {
  pe <- parameterEstimates(f, standardized = TRUE)
  lab <- lavInspect(f, "group.label")
  data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = lab[pe$group], est = pe$est,
             se = pe$se, std.all = pe$std.all)
}

levels_json <- function(model, group, missing = "listwise", lev = LEV) {
  fits <- lapply(lev, function(ge) sem(model, data = d, group = group, group.equal = ge,
                                       missing = missing))
  out <- list()
  for (i in seq_along(fits)) {
    f <- fits[[i]]
    row <- c(list(level = names(lev)[i], group_equal = setdiff(lev[[i]], "none"),
                  converged = lavInspect(f, "converged")), as.list(fitMeasures(f, FM)))
    if (i > 1) {
      lrt <- lavTestLRT(fits[[i]], fits[[i - 1]])
      row$delta.chisq <- lrt[["Chisq diff"]][2]
      row$delta.df <- lrt[["Df diff"]][2]
      row$delta.pvalue <- lrt[["Pr(>Chisq)"]][2]
    }
    out[[i]] <- row
  }
  list(model = model, group = group, missing = missing,
       group_labels = lavInspect(fits[[1]], "group.label"),
       nobs = unlist(lavInspect(fits[[1]], "nobs")), levels = out,
       configural_estimates = est_json(fits[[1]]))
}

res <- list(lavaan_version = as.character(packageVersion("lavaan")))
res$strict_customer_type <- levels_json(core, "customer_type")
res$branch <- levels_json(core, "branch")
res$fiml <- levels_json(nq, "customer_type", missing = "ml", lev = LEV[1:3])

free <- sem(core, data = d, group = "customer_type")
cons_model <- sub("CCI ~ PV", "CCI ~ c(b, b, b)*PV", core, fixed = TRUE)
cons <- sem(cons_model, data = d, group = "customer_type")
lrt <- lavTestLRT(free, cons)
pe <- parameterEstimates(free)
sel <- pe$lhs == "CCI" & pe$op == "~" & pe$rhs == "PV"
pc <- parameterEstimates(cons)
res$path <- list(model = core, constrained_model = cons_model, group = "customer_type",
                 path = c("CCI", "~", "PV"),
                 group_labels = lavInspect(free, "group.label"),
                 free = as.list(fitMeasures(free, c("chisq", "df"))),
                 constrained = as.list(fitMeasures(cons, c("chisq", "df"))),
                 delta.chisq = lrt[["Chisq diff"]][2], delta.df = lrt[["Df diff"]][2],
                 delta.pvalue = lrt[["Pr(>Chisq)"]][2],
                 per_group = data.frame(group = lavInspect(free, "group.label")[pe$group[sel]],
                                        est = pe$est[sel], se = pe$se[sel]),
                 constrained_est = pc$est[pc$lhs == "CCI" & pc$op == "~" & pc$rhs == "PV"][1])
write_json(res, "tests/data/invariance_extra.json", auto_unbox = TRUE, digits = 10,
           pretty = TRUE, na = "null")
cat("wrote invariance_extra.json\n")
