# lavaan 0.6.14 reference for tests/stats/sem/test_ordinal.py: ordered (categorical) CFA/SEM.
# - `telecom_cfa` / `telecom_sem`: the telecom 7-point items as ordered, estimator WLSMV
#   (lavaan's default for ordered data: DWLS, se = "robust.sem", test = "scaled.shifted");
# - `telecom_cfa_dwls`: the same CFA with estimator = "DWLS" (standard se and test);
# - `telecom_small`: a 7-item CFA with its sample statistics and full NACOV (lavInspect "gamma");
# - `hs_cat`: Holzinger-Swineford x1..x6 cut at fixed points (below), WLSMV;
# - `hs_lavcor`: lavCor() of the cut x1..x6, the binary sex and continuous x7..x9 (polychoric,
#   polyserial and Pearson correlations, thresholds);
# - `groups`: multi-group fits by customer_type (telecom) and school (hs), see below;
# - `theta`: parameterization = "theta";
# - `telecom_pairwise`: missing = "pairwise" with its sample statistics and NACOV;
# - `hs_mixed`: ordered x1c..x3c with continuous x4..x6;
# - `hs_binary`: binary items (tetrachoric correlations).
# usage (from the repo root): Rscript tests/data/ordinal_cfa.R -> tests/data/ordinal_cfa.json
suppressMessages({library(lavaan); library(jsonlite)})
d <- read.csv("tests/data/telecom_1500.csv")
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
CUTS <- list(x1 = c(4, 5, 6), x2 = c(5, 6, 7), x3 = c(1.5, 2.5, 3.5), x4 = c(2, 3, 4),
             x5 = c(3, 4, 5, 6), x6 = c(1, 2, 3))
for (v in names(CUTS)) hs[[paste0(v, "c")]] <- findInterval(hs[[v]], CUTS[[v]]) + 1
hs$sexb <- hs$sex  # binary (1, 2)

est_rows <- function(fit) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  if (is.null(pe$group)) pe$group <- 1L
  lapply(seq_len(nrow(pe)), function(i) list(lhs = pe$lhs[i], op = pe$op[i], rhs = pe$rhs[i],
         group = pe$group[i], est = pe$est[i], se = pe$se[i], std.all = pe$std.all[i]))
}
summ <- function(fit, gamma = FALSE) {
  fm <- fitMeasures(fit)
  out <- list(nobs = lavInspect(fit, "nobs"), group_label = lavInspect(fit, "group.label"), converged = lavInspect(fit, "converged"),
              estimates = est_rows(fit), fit = as.list(fm), r2 = as.list(lavInspect(fit, "r2")))
  ss <- lavInspect(fit, "test")$scaled.shifted
  if (!is.null(ss)) out$fit$chisq.shift.parameter <- ss$shift.parameter
  if (gamma) {
    ss <- lavInspect(fit, "sampstat")
    out$sample_cor <- unname(ss$cov)
    out$sample_th <- unname(as.numeric(ss$th))
    out$wls_obs <- unname(as.numeric(lavInspect(fit, "wls.obs")))
    out$gamma <- unname(lavInspect(fit, "gamma"))
  }
  out
}
cfa3 <- "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4\nSAT =~ SAT1 + SAT2 + SAT3"
sem3 <- paste("PV =~ PV1 + PV2", "CCI =~ CCI1 + CCI2 + CCI3 + CCI4",
              "LOY =~ LOY1 + LOY2 + LOY3 + LOY4", "CCI ~ PV", "LOY ~ CCI + PV", sep = "\n")
small <- "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4"
hsm <- "visual =~ x1c + x2c + x3c\ntextual =~ x4c + x5c + x6c"
out <- list(
  models = list(telecom_cfa = cfa3, telecom_sem = sem3, telecom_small = small, hs_cat = hsm),
  cuts = CUTS,
  telecom_cfa = summ(cfa(cfa3, data = d, ordered = TRUE)),
  telecom_cfa_dwls = summ(cfa(cfa3, data = d, ordered = TRUE, estimator = "DWLS")),
  telecom_sem = summ(sem(sem3, data = d, ordered = TRUE)),
  telecom_small = summ(cfa(small, data = d, ordered = TRUE), gamma = TRUE),
  hs_cat = summ(cfa(hsm, data = hs, ordered = paste0("x", 1:6, "c")))
)
# multi-group (lavaan's rules for ordered data, delta parameterization): configural;
# group.equal = "thresholds" (scaling factors and latent means free in groups 2..G);
# thresholds + loadings
mg <- "TAN =~ TAN1 + TAN2 + TAN3\nPV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI4"
out$models$telecom_mg <- mg
LEV <- list(configural = "none", thresholds = "thresholds",
            loadings = c("thresholds", "loadings"))
out$groups <- list(
  telecom = lapply(LEV, function(ge) summ(cfa(mg, data = d, ordered = TRUE,
                                              group = "customer_type", group.equal = ge))),
  hs = lapply(LEV, function(ge) summ(cfa(hsm, data = hs, ordered = paste0("x", 1:6, "c"),
                                         group = "school", group.equal = ge))))
# theta parameterization: one group, and two groups with equal thresholds (residual variances
# of the ordered items free in group 2)
out$theta <- list(
  telecom_sem = summ(sem(sem3, data = d, ordered = TRUE, parameterization = "theta")),
  hs_thresholds = summ(cfa(hsm, data = hs, ordered = paste0("x", 1:6, "c"), group = "school",
                           group.equal = "thresholds", parameterization = "theta")))
# missing = "pairwise" (the N/A-prone NQ items)
pw <- "NQ =~ NQ2 + NQ3 + NQ4\nSAT =~ SAT1 + SAT2 + SAT3"
out$models$telecom_pairwise <- pw
out$telecom_pairwise <- summ(cfa(pw, data = d, ordered = TRUE, missing = "pairwise"),
                             gamma = TRUE)
# ordered and continuous indicators together (polyserial and Pearson entries in the NACOV)
mx <- "visual =~ x1c + x2c + x3c\ntextual =~ x4 + x5 + x6"
out$models$hs_mixed <- mx
out$hs_mixed <- summ(cfa(mx, data = hs, ordered = c("x1c", "x2c", "x3c")), gamma = TRUE)
# binary items (2x2 tables): x1..x6 above fixed cut points
BIN <- c(x1 = 5, x2 = 6, x3 = 2.5, x4 = 3, x5 = 4.5, x6 = 2)
for (v in names(BIN)) hs[[paste0(v, "b")]] <- as.integer(hs[[v]] > BIN[[v]])
out$bin_cuts <- as.list(BIN)
bm <- "visual =~ x1b + x2b + x3b\ntextual =~ x4b + x5b + x6b"
out$models$hs_binary <- bm
out$hs_binary <- summ(cfa(bm, data = hs, ordered = TRUE), gamma = TRUE)
lc <- lavCor(hs[, c(paste0("x", 1:6, "c"), "sexb", "x7", "x8", "x9")],
             ordered = c(paste0("x", 1:6, "c"), "sexb"), output = "fit")
ss <- lavInspect(lc, "sampstat")
out$hs_lavcor <- list(names = colnames(ss$cov), cor = unname(ss$cov),
                      th = unname(as.numeric(ss$th)), th_names = names(ss$th))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           "tests/data/ordinal_cfa.json")
