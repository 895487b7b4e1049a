# Made tests/data/hs_cfa_ml.json, hs_cfa_mlr.json, hs_reliability.json, pd_sem_ml.json and
# telecom_{sem_listwise,sem_fiml,cfa_fiml,reliability,invariance_customer_type,efa_drivers}.json
# (R 4, lavaan 0.6.14, semTools 0.5-6, psych 2.2.9). From tests/data:
#   Rscript reference.R holzinger_swineford_1939.csv OUT hs
#   Rscript reference.R political_democracy.csv OUT pd
#   Rscript reference.R telecom_1500.csv OUT telecom
# The telecom files' "secs" (lavaan's run time) differ from run to run; all else is reproduced.
# Reference results from R (lavaan, semTools, psych) for a survey CSV.
# usage: Rscript reference.R DATA.csv OUTDIR [hs|pd|telecom]
suppressMessages({library(lavaan); library(semTools); library(psych); library(jsonlite)})
args <- commandArgs(TRUE)
data_file <- args[1]; out <- args[2]; kind <- args[3]
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(data_file)

FIT_NAMES <- c("npar", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli",
               "logl", "unrestricted.logl", "aic", "bic", "rmsea", "rmsea.ci.lower",
               "rmsea.ci.upper", "rmsea.pvalue", "srmr")

fit_json <- function(f, extra = list()) {
  pe <- parameterEstimates(f, standardized = TRUE, ci = TRUE)
  keep <- intersect(c("lhs", "op", "rhs", "label", "group", "est", "se", "z", "pvalue",
                      "ci.lower", "ci.upper", "std.all"), names(pe))
  r2 <- inspect(f, "r2")
  c(list(lavaan_version = as.character(packageVersion("lavaan")),
         nobs = lavInspect(f, "nobs"),
         converged = lavInspect(f, "converged"),
         fit = as.list(fitMeasures(f, FIT_NAMES)),
         estimates = pe[, keep],
         r2 = if (is.list(r2)) lapply(r2, as.list) else as.list(r2)), extra)
}

save <- function(name, obj) {
  write_json(obj, file.path(out, paste0(name, ".json")), auto_unbox = TRUE, digits = 10,
             pretty = TRUE, na = "null")
  cat("wrote", name, "\n")
}

timed <- function(expr) {
  t0 <- Sys.time(); v <- expr
  list(value = v, secs = as.numeric(Sys.time() - t0, units = "secs"))
}

if (kind == "hs") {
  m <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
  save("hs_cfa_ml", c(list(model = m, call = "cfa(model, data)"), fit_json(cfa(m, data = d))))
  f <- cfa(m, data = d, estimator = "MLR")
  save("hs_cfa_mlr", c(list(model = m, call = "cfa(model, data, estimator='MLR')"), fit_json(f),
       list(robust = as.list(fitMeasures(f, c("chisq.scaled", "chisq.scaling.factor",
            "cfi.robust", "tli.robust", "rmsea.robust", "srmr"))))))
  items <- list(visual = c("x1", "x2", "x3"), textual = c("x4", "x5", "x6"), speed = c("x7", "x8", "x9"))
  fit <- cfa(m, data = d)
  save("hs_reliability", list(
    alpha = lapply(items, function(v) psych::alpha(d[, v])$total$raw_alpha),
    omega = as.list(compRelSEM(fit)),
    ave = as.list(AVE(fit)),
    htmt = htmt(m, d, htmt2 = FALSE), htmt2 = htmt(m, d, htmt2 = TRUE)))
}

if (kind == "pd") {
  m <- "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"
  save("pd_sem_ml", c(list(model = m, call = "sem(model, data)"), fit_json(sem(m, data = d))))
}

if (kind == "telecom") {
  items <- list(TAN = paste0("TAN", 1:3), REL = paste0("REL", 1:4), RES = paste0("RES", 1:4),
                ASS = paste0("ASS", 1:4), EMP = paste0("EMP", 1:5), NQ = paste0("NQ", 1:4),
                PV = paste0("PV", 1:2), SAT = paste0("SAT", 1:3), CCI = paste0("CCI", 1:4),
                LOY = paste0("LOY", 1:4))
  meas <- paste(sapply(names(items), function(k) paste(k, "=~", paste(items[[k]], collapse = " + "))),
                collapse = "\n")
  struct <- "PV ~ TAN + REL + RES + ASS + EMP + NQ\nSAT ~ PV\nCCI ~ a*PV\nLOY ~ b*CCI + SAT + PV\nind_PV_CCI_LOY := a*b"
  m <- paste(meas, struct, sep = "\n")
  t <- timed(sem(m, data = d))
  save("telecom_sem_listwise", c(list(model = m, call = "sem(model, data)", secs = t$secs), fit_json(t$value)))
  t <- timed(sem(m, data = d, missing = "ml"))
  save("telecom_sem_fiml", c(list(model = m, call = "sem(model, data, missing='ml')", secs = t$secs),
                             fit_json(t$value)))
  t <- timed(cfa(meas, data = d, missing = "ml"))
  save("telecom_cfa_fiml", c(list(model = meas, call = "cfa(model, data, missing='ml')", secs = t$secs),
                             fit_json(t$value)))
  # reliability / validity: omega, AVE and HTMT from the measurement model under FIML
  cf <- cfa(meas, data = d, missing = "ml")
  alpha <- lapply(items, function(v) psych::alpha(na.omit(d[, v]), warnings = FALSE)$total$raw_alpha)
  save("telecom_reliability", list(
    note = "alpha: psych::alpha on the complete cases of each construct's items; omega (compRelSEM), ave (AVE), htmt (Henseler 2015, htmt2=FALSE) and htmt2 (geometric-mean HTMT2, semTools' default): semTools on the whole measurement model fitted with missing='ml' (FIML)",
    alpha = alpha, omega = as.list(compRelSEM(cf)), ave = as.list(AVE(cf)),
    htmt = htmt(meas, d, missing = "ml", htmt2 = FALSE),
    htmt2 = htmt(meas, d, missing = "ml", htmt2 = TRUE)))
  # invariance across customer types for the PV -> CCI -> LOY core
  core <- "PV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\nCCI ~ PV\nLOY ~ CCI + PV"
  lev <- list(configural = "none", metric = c("loadings"), scalar = c("loadings", "intercepts"))
  inv <- lapply(names(lev), function(l) {
    f <- sem(core, data = d, group = "customer_type", group.equal = lev[[l]])
    c(list(level = l, group_equal = setdiff(lev[[l]], "none")), as.list(fitMeasures(f, c("chisq", "df", "cfi", "tli", "rmsea", "srmr"))))
  })
  fc <- sem(core, data = d, group = "customer_type")
  save("telecom_invariance_customer_type", c(list(model = core, group = "customer_type",
       group_labels = lavInspect(fc, "group.label"), levels = inv), list(configural = fit_json(fc))))
  # exploratory factor analysis of the six driver constructs
  drv <- na.omit(d[, unlist(items[c("TAN", "REL", "RES", "ASS", "EMP")])])
  fa6 <- psych::fa(drv, nfactors = 5, rotate = "oblimin", fm = "minres")
  kmo <- psych::KMO(drv)
  bart <- psych::cortest.bartlett(cor(drv), n = nrow(drv))
  L <- unclass(fa6$loadings)
  save("telecom_efa_drivers", list(
    call = "psych::fa(complete cases of TAN..EMP items, nfactors=5, rotate='oblimin', fm='minres')",
    n = nrow(drv), loadings = as.data.frame(L), communalities = as.list(fa6$communality),
    eigenvalues = fa6$e.values, kmo_overall = kmo$MSA, kmo_items = as.list(kmo$MSAi),
    bartlett = list(chisq = bart$chisq, df = bart$df, p = bart$p.value)))
}
