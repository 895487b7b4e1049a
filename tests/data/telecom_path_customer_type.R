# lavaan 0.6.14: is CCI ~ PV equal across customer types? (tests/fits/test_fit_groups.py)
# Run from the repository root: Rscript tests/data/telecom_path_customer_type.R
library(lavaan); library(jsonlite)
d <- read.csv("tests/data/telecom_1500.csv")
m <- "PV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\nCCI ~ PV\nLOY ~ CCI + PV"
mc <- "PV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\nCCI ~ c(b,b,b)*PV\nLOY ~ CCI + PV"
f0 <- sem(m, d, group="customer_type", missing="listwise")
f1 <- sem(mc, d, group="customer_type", missing="listwise")
t <- lavTestLRT(f1, f0)
pe <- parameterEstimates(f0); pe <- pe[pe$lhs=="CCI" & pe$op=="~" & pe$rhs=="PV",]
out <- list(model=m, group="customer_type", missing="listwise", path="CCI ~ PV",
  lavaan_version=as.character(packageVersion("lavaan")),
  groups=lavInspect(f0,"group.label"),
  per_group=data.frame(group=lavInspect(f0,"group.label")[pe$group], est=pe$est, se=pe$se),
  free=list(chisq=fitMeasures(f0,"chisq")[[1]], df=fitMeasures(f0,"df")[[1]]),
  constrained=list(chisq=fitMeasures(f1,"chisq")[[1]], df=fitMeasures(f1,"df")[[1]]),
  delta.chisq=t[["Chisq diff"]][2], delta.df=t[["Df diff"]][2], delta.pvalue=t[["Pr(>Chisq)"]][2])
writeLines(toJSON(out, auto_unbox=TRUE, digits=12, pretty=TRUE), "tests/data/telecom_path_customer_type.json")
