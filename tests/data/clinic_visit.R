# R's numbers for the unseen-instrument check (tests/browser/test_unseen_instrument.py) on
# tests/data/clinic_visit_800.csv (made by tests/data/clinic_visit_data.py from
# tests/data/clinic-visit.yaml). Run from the repository root: Rscript tests/data/clinic_visit.R
# (writes tests/data/clinic_visit.json). R is a development aid, never a test dependency.
suppressMessages({library(lavaan); library(semTools); library(psych); library(jsonlite)})
d <- read.csv("tests/data/clinic_visit_800.csv", na.strings = c("NA", ""), stringsAsFactors = FALSE)
items <- list(CARE = paste0("CARE", 1:4), WAIT = paste0("WAIT", 1:3), SITE = paste0("SITE", 1:3),
              WORTH = paste0("WORTH", 1:3), SATIS = paste0("SATIS", 1:3))
scale <- list(CARE = c(1, 5), WAIT = c(1, 5), SITE = c(1, 5), WORTH = c(1, 10), SATIS = c(1, 10))
meas <- paste(sapply(names(items), function(k) paste(k, "=~", paste(items[[k]], collapse = " + "))), collapse = "\n")
model <- paste(meas, "WORTH ~ CARE + WAIT + SITE", "SATIS ~ WORTH + CARE", sep = "\n")

# reliability: alpha on each construct's complete cases; omega/AVE/HTMT from the listwise CFA
alpha <- sapply(names(items), function(k) psych::alpha(na.omit(d[, items[[k]]]), warnings = FALSE)$total$raw_alpha)
cf <- cfa(meas, data = d, missing = "listwise")
cff <- cfa(meas, data = d, missing = "ml")

# EFA of the 16 rating items: complete cases, 5 factors, ML, varimax
efa_items <- unlist(items)
x <- na.omit(d[, efa_items])
fa5 <- psych::fa(x, nfactors = 5, rotate = "varimax", fm = "ml")
km <- psych::KMO(x)
bt <- psych::cortest.bartlett(cor(x), n = nrow(x))

# the default model grouped by insurance: listwise ML and FIML
fit_of <- function(f) {
  pe <- parameterEstimates(f)
  pe <- pe[pe$op %in% c("=~", "~", "~~"), ]
  list(nobs = as.list(setNames(lavInspect(f, "nobs"), lavInspect(f, "group.label"))),
       fit = as.list(fitMeasures(f, c("chisq", "df", "cfi", "tli", "rmsea", "srmr"))),
       estimates = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs,
                              group = lavInspect(f, "group.label")[pe$group], est = pe$est, se = pe$se))
}
g_lw <- sem(model, d, group = "insurance", missing = "listwise")
g_ml <- sem(model, d, group = "insurance", missing = "ml")

# drivers: standardized total effects on SATIS in the one-group FIML fit
one <- sem(model, d, missing = "ml")
B <- lavInspect(one, "std")$beta
total <- solve(diag(nrow(B)) - B) - diag(nrow(B))
dimnames(total) <- dimnames(B)

# scores by age band: respondent score = mean of the answered items; index 0-100 with a t CI
score_rows <- list()
for (band in c("under_40", "from_40_64", "over_64")) {
  s <- d[!is.na(d$age_band) & d$age_band == band, ]
  for (k in names(items)) {
    v <- rowMeans(s[, items[[k]], drop = FALSE], na.rm = TRUE)
    v <- v[!is.nan(v)]
    lo <- scale[[k]][1]; hi <- scale[[k]][2]
    idx <- (v - lo) / (hi - lo) * 100
    h <- qt(0.975, length(idx) - 1) * sd(idx) / sqrt(length(idx))
    score_rows[[length(score_rows) + 1]] <- data.frame(group = band, construct = k, n = length(idx),
      index = mean(idx), ci_low = mean(idx) - h, ci_high = mean(idx) + h)
  }
  nps <- ifelse(s$REC >= 9, 100, ifelse(s$REC >= 7, 0, -100))
  score_rows[[length(score_rows) + 1]] <- data.frame(group = band, construct = "REC", n = length(nps),
    index = mean(nps), ci_low = NA, ci_high = NA)
}

out <- list(
  call = "made by tests/data/clinic_visit.R on tests/data/clinic_visit_800.csv",
  versions = list(R = R.version.string, psych = as.character(packageVersion("psych")),
                  lavaan = as.character(packageVersion("lavaan")), semTools = as.character(packageVersion("semTools"))),
  n = nrow(d),
  reliability_listwise = list(nobs = lavInspect(cf, "nobs"), alpha = as.list(alpha),
    omega = as.list(compRelSEM(cf)), ave = as.list(AVE(cf)), htmt = htmt(meas, d[complete.cases(d[, efa_items]), ], htmt2 = FALSE)),
  reliability_fiml = list(omega = as.list(compRelSEM(cff)), ave = as.list(AVE(cff))),
  efa = list(items = efa_items, n = nrow(x), kmo = km$MSA, kmo_items = as.list(km$MSAi),
             bartlett = list(chisq = bt$chisq, df = bt$df), eigenvalues = eigen(cor(x))$values,
             communalities = as.list(fa5$communality)),
  group_listwise = fit_of(g_lw),
  group_fiml = fit_of(g_ml),
  drivers = list(outcome = "SATIS", nobs = lavInspect(one, "nobs"),
                 importance = as.list(total["SATIS", c("CARE", "WAIT", "SITE", "WORTH")])),
  scores_by_age_band = do.call(rbind, score_rows)
)
write_json(out, "tests/data/clinic_visit.json", auto_unbox = TRUE, digits = 12, pretty = TRUE)
