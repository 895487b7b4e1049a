# Extra psych / lavaan / semTools reference numbers for tests/stats (development aid; R is not a test dependency).
# usage: Rscript tests/data/psych_extra.R   (from the repository root; writes tests/data/psych_extra.json)
suppressMessages({library(lavaan); library(semTools); library(psych); library(jsonlite)})
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
d <- read.csv("tests/data/telecom_1500.csv")
items <- list(TAN = paste0("TAN", 1:3), REL = paste0("REL", 1:4), RES = paste0("RES", 1:4),
              ASS = paste0("ASS", 1:4), EMP = paste0("EMP", 1:5), NQ = paste0("NQ", 1:4),
              PV = paste0("PV", 1:2), SAT = paste0("SAT", 1:3), CCI = paste0("CCI", 1:4),
              LOY = paste0("LOY", 1:4))
a <- psych::alpha(hs[, c("x1","x2","x3")])
a2 <- psych::alpha(na.omit(d[, items$EMP]), warnings=FALSE)
a3 <- psych::alpha(na.omit(d[, items$NQ]), warnings=FALSE)
drv <- na.omit(d[, unlist(items[c("TAN", "REL", "RES", "ASS", "EMP")])])
fml <- psych::fa(drv, nfactors = 5, rotate = "varimax", fm = "ml")
fpm <- psych::fa(drv, nfactors = 5, rotate = "promax", fm = "minres")
pc <- psych::principal(drv, nfactors = 5, rotate = "varimax")
meas <- paste(sapply(names(items), function(k) paste(k, "=~", paste(items[[k]], collapse = " + "))), collapse = "\n")
cf <- cfa(meas, data = d, missing = "ml")
lc <- lavInspect(cf, "cor.lv")
cfl <- cfa(meas, data = d)
out <- list(
  call = "psych 2.x / lavaan / semTools on tests/data; made by tests/data/psych_extra.R (run from the repository root)",
  versions = list(psych = as.character(packageVersion("psych")), lavaan = as.character(packageVersion("lavaan")), semTools = as.character(packageVersion("semTools"))),
  hs_visual_alpha = list(r_drop = a$item.stats$r.drop, alpha_drop = a$alpha.drop$raw_alpha, mean = a$item.stats$mean, sd = a$item.stats$sd),
  telecom_emp_alpha = list(r_drop = a2$item.stats$r.drop, alpha_drop = a2$alpha.drop$raw_alpha),
  telecom_nq_alpha = list(n = nrow(na.omit(d[, items$NQ])), raw_alpha = a3$total$raw_alpha, r_drop = a3$item.stats$r.drop, alpha_drop = a3$alpha.drop$raw_alpha),
  efa_ml_varimax = list(loadings = as.data.frame(unclass(fml$loadings)), communalities = as.list(fml$communality)),
  efa_minres_promax = list(loadings = as.data.frame(unclass(fpm$loadings)), communalities = as.list(fpm$communality)),
  pca_varimax = list(loadings = as.data.frame(unclass(pc$loadings)), communalities = as.list(pc$communality)),
  telecom_fiml_cor_lv = as.data.frame(lc),
  telecom_listwise = list(nobs = lavInspect(cfl, "nobs"), omega = as.list(compRelSEM(cfl)), ave = as.list(AVE(cfl)),
     htmt = htmt(meas, d, htmt2 = FALSE))
)
write_json(out, "tests/data/psych_extra.json", auto_unbox = TRUE, digits = 10, pretty = TRUE)
