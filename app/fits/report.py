"""A fit ``result`` as text laid out like lavaan's ``summary(fit, standardized=TRUE)``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

_SECTIONS = [
    ("=~", "Latent Variables"),
    ("~", "Regressions"),
    ("~~cov", "Covariances"),
    ("~1", "Intercepts"),
    ("~~var", "Variances"),
    (":=", "Defined Parameters"),
]


def _num(value: Any, width: int = 9, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return " " * width
    return f"{float(value):{width}.{digits}f}"


def _line(label: str, value: Any, digits: int = 3) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.{digits}f}"
    else:
        text = str(value)
    return f"  {label:<44}{text:>14}"


# lavaan's fit summary after the header lines: (heading, ((label, key of result["fit"]), ...)).
_MODEL_TEST = (
    ("Test statistic", "chisq"),
    ("Degrees of freedom", "df"),
    ("P-value (Chi-square)", "pvalue"),
)
_SCALED_TEST = (
    ("Scaled test statistic (Yuan-Bentler)", "chisq.scaled"),
    ("Scaling correction factor", "chisq.scaling.factor"),
    ("P-value (scaled)", "pvalue.scaled"),
)
_FIT_SECTIONS = (
    (
        "User Model versus Baseline Model:",
        (("Comparative Fit Index (CFI)", "cfi"), ("Tucker-Lewis Index (TLI)", "tli")),
    ),
    (
        "Loglikelihood and Information Criteria:",
        (
            ("Loglikelihood user model (H0)", "logl"),
            ("Loglikelihood unrestricted model (H1)", "unrestricted.logl"),
            ("Akaike (AIC)", "aic"),
            ("Bayesian (BIC)", "bic"),
        ),
    ),
    (
        "Root Mean Square Error of Approximation:",
        (
            ("RMSEA", "rmsea"),
            ("90 Percent confidence interval - lower", "rmsea.ci.lower"),
            ("90 Percent confidence interval - upper", "rmsea.ci.upper"),
            ("P-value H_0: RMSEA <= 0.050", "rmsea.pvalue"),
        ),
    ),
    ("Standardized Root Mean Square Residual:", (("SRMR", "srmr"),)),
)
# Under MLR lavaan's summary adds the robust indices to their sections (same headings).
_ROBUST_ROWS = {
    "User Model versus Baseline Model:": (
        ("Robust Comparative Fit Index (CFI)", "cfi.robust"),
        ("Robust Tucker-Lewis Index (TLI)", "tli.robust"),
    ),
    "Root Mean Square Error of Approximation:": (
        ("Robust RMSEA", "rmsea.robust"),
        ("90 Percent confidence interval - lower", "rmsea.ci.lower.robust"),
        ("90 Percent confidence interval - upper", "rmsea.ci.upper.robust"),
        ("P-value H_0: Robust RMSEA <= 0.050", "rmsea.pvalue.robust"),
    ),
}


def _section(heading: str, fit: dict[str, Any], rows: Sequence[tuple[str, str]]) -> list[str]:
    return ["", heading, *(_line(label, fit.get(key)) for label, key in rows)]


def fit_block(result: dict[str, Any]) -> list[str]:
    fit = result.get("fit") or {}
    out = [
        _line("Estimator", result.get("estimator", "")),
        _line("Missing data", result.get("missing", "")),
        _line("Number of observations", result.get("nobs", "")),
        _line("Number of model parameters", fit.get("npar", "")),
    ]
    method = result.get("robust")  # MLR/MLM: lavaan's se and test options
    if method:
        out += [_line("Standard errors", method.get("se")), _line("Test", method.get("test"))]
    ordinal = result.get("ordinal")
    if ordinal:
        out.append(_line("Parameterization", ordinal.get("parameterization")))
    scaled = _SCALED_TEST
    if result.get("estimator") == "MLM":
        scaled = (("Scaled test statistic (Satorra-Bentler)", "chisq.scaled"), *_SCALED_TEST[1:])
    test = _MODEL_TEST + (scaled if "chisq.scaled" in fit else ())
    out += _section("Model Test User Model:", fit, test)
    robust = "chisq.scaled" in fit
    for heading, rows in _FIT_SECTIONS:
        more = _ROBUST_ROWS.get(heading, ()) if robust else ()
        out += _section(heading, fit, rows + tuple(r for r in more if r[1] in fit))
    boot = result.get("bootstrap")
    if boot:
        dropped = ", ".join(f"{why} {k}" for why, k in (boot.get("dropped") or {}).items())
        out += [
            "",
            "Bootstrap:",
            _line("Draws requested", boot.get("draws")),
            _line("Draws succeeded", boot.get("succeeded")),
            _line("Dropped", dropped or "none"),
            _line("Kept with a negative variance", boot.get("inadmissible")),
            _line("Interval", f"{boot.get('interval')} {boot.get('level', 0.95):.0%}"),
        ]
    return [x.replace("None", "") for x in out]


def _section_of(e: dict[str, Any]) -> str:
    if e["op"] == "~~":
        return "~~var" if e["lhs"] == e["rhs"] else "~~cov"
    return str(e["op"])


def _row(name: str, e: dict[str, Any]) -> str:
    label = e.get("label") or ""
    name = name if not label or label == name else f"{name} ({label})"
    free = e.get("se") not in (None, 0, 0.0)
    cols = _num(e.get("est"))
    cols += _num(e.get("se")) if free else " " * 9
    cols += _num(e.get("z")) if free else " " * 9
    cols += _num(e.get("pvalue")) if free else " " * 9
    cols += _num(e.get("std.lv"))
    cols += _num(e.get("std.all"))
    return f"    {name:<18}{cols}"


def estimate_block(estimates: list[dict[str, Any]], r2: dict[str, Any]) -> list[str]:
    out = ["Parameter Estimates:", ""]
    endogenous = {e["rhs"] for e in estimates if e["op"] == "=~"} | {
        e["lhs"] for e in estimates if e["op"] == "~"
    }
    header = f"{'':22}{'Estimate':>9}{'Std.Err':>9}{'z-value':>9}{'P(>|z|)':>9}"
    header += f"{'Std.lv':>9}{'Std.all':>9}"
    for key, title in _SECTIONS:
        rows = [e for e in estimates if _section_of(e) == key]
        if not rows:
            continue
        out += [f"{title}:", header]
        current = None
        for e in rows:
            if key in ("=~", "~", "~~cov"):
                if e["lhs"] != current:
                    current = e["lhs"]
                    out.append(f"  {current} {e['op']}")
                out.append(_row(e["rhs"], e))
            else:
                dot = "." if e["lhs"] in endogenous else ""
                out.append(_row(dot + e["lhs"], e))
        out.append("")
    if r2:
        out += ["R-Square:", f"{'':22}{'Estimate':>9}"]
        out += [f"    {name:<18}{_num(value)}" for name, value in r2.items()]
    return out


def _pls_lines(result: dict[str, Any]) -> list[str]:
    """A PLS result: settings, SRMR, estimates (weights, loadings, paths), R², reliability and
    the optional PLSpredict, IPMA and two-group blocks."""
    boot = result.get("bootstrap") or {}
    out = [
        _line("Method", "PLS" + (" (consistent, PLSc)" if result.get("consistent") else "")),
        _line("Inner weighting scheme", result.get("scheme", "")),
        _line("Missing data", result.get("missing", "")),
        _line("Number of observations", result.get("nobs", "")),
        _line("Bootstrap draws (succeeded)", f"{boot.get('succeeded')}/{boot.get('draws')}")
        if boot
        else _line("Bootstrap draws", 0),
        _line("SRMR (saturated model)", result.get("srmr")),
        "",
        f"{'':30}{'Estimate':>9}{'Std.Err':>9}{'CI low':>9}{'CI high':>9}",
    ]
    titles = {"<=": "Weights", "=~": "Loadings", "~": "Paths"}
    for op, heading in titles.items():
        out.append(f"{heading}:")
        for e in result.get("estimates") or []:
            if e["op"] == op:
                name = f"{e['lhs']} {op} {e['rhs']}"
                cols = "".join(_num(e.get(k)) for k in ("est", "se", "ci.lower", "ci.upper"))
                out.append(f"    {name:<26}{cols}")
    out += ["", f"{'R-Square:':30}{'R2':>9}{'R2 adj':>9}"]
    for name, value in (result.get("r2") or {}).items():
        out.append(f"    {name:<26}{_num(value)}{_num((result.get('r2.adj') or {}).get(name))}")
    out += ["", f"{'Reliability:':30}{'alpha':>9}{'rhoA':>9}{'rhoC':>9}{'AVE':>9}"]
    for name, rel in (result.get("reliability") or {}).items():
        cols = "".join(_num(rel.get(k)) for k in ("alpha", "rhoA", "rhoC", "ave"))
        out.append(f"    {name:<26}{cols}")
    predict = result.get("predict")
    if predict:
        out += [
            "",
            f"PLSpredict ({predict['folds']} folds x {predict['repetitions']}):",
            f"{'':30}{'PLS RMSE':>9}{'LM RMSE':>9}{'PLS MAE':>9}{'LM MAE':>9}{'Q2pred':>9}",
        ]
        for row in predict["items"]:
            keys: tuple[str, ...] = ("pls.rmse", "lm.rmse", "pls.mae", "lm.mae", "q2predict")
            out.append(f"    {row['item']:<26}{''.join(_num(row.get(k)) for k in keys)}")
        blind = predict.get("blindfolding") or {}
        if blind:
            out += ["", f"Blindfolding (omission distance {blind['distance']}):{'':2}{'Q2':>9}"]
            for row in blind["constructs"]:
                out.append(f"    {row['construct']:<26}{_num(row.get('q2'))}")
    ipma = result.get("ipma")
    if ipma:
        out += ["", f"IPMA of {ipma['target']}:", f"{'':30}{'Perform.':>9}{'Import.':>9}"]
        for row in ipma["constructs"]:
            cols = _num(row["performance"], digits=1) + _num(row.get("importance"))
            out.append(f"    {row['construct']:<26}{cols}")
    mga = result.get("mga")
    if mga:
        g1, g2 = mga["groups"]
        out += [
            "",
            f"Two groups of {mga['group']}: {g1} (n = {mga['n'][0]}) - {g2} (n = {mga['n'][1]}):",
            f"{'':30}{'Diff':>9}{'p MGA':>9}{'p perm':>9}",
        ]
        for row in mga["paths"]:
            name = f"{row['lhs']} ~ {row['rhs']}"
            keys = ("diff", "p.henseler.two_sided", "p.permutation")
            out.append(f"    {name:<26}{''.join(_num(row.get(k)) for k in keys)}")
        out += ["", f"MICOM:{'':24}{'c':>9}{'p c':>9}{'p mean':>9}{'p var':>9}"]
        for row in mga["micom"]["constructs"]:
            keys = ("c", "p.c", "p.mean", "p.logvar")
            out.append(f"    {row['construct']:<26}{''.join(_num(row.get(k)) for k in keys)}")
    return [x.replace("None", "") for x in out]


def format_result(result: dict[str, Any], *, title: str = "") -> str:
    """The whole report; one block per group when the fit has groups."""
    lines = [title, ""] if title else []
    warns = result.get("warnings") or []
    if result.get("converged") is False and not warns:
        warns = ["the model did not converge: no fit measures or standard errors are reported"]
    lines += [f"Warning: {w}" for w in warns] + ([""] if warns else [])
    if result.get("method") == "pls":
        return "\n".join(lines + _pls_lines(result)).rstrip() + "\n"
    lines += fit_block(result) + [""]
    estimates = list(result.get("estimates") or [])
    groups = list(dict.fromkeys(e.get("group") for e in estimates))
    r2_all = result.get("r2") or {}
    for g in groups:
        if g not in (None, ""):
            lines += [f"Group [{g}]:", ""]
        rows = [e for e in estimates if e.get("group") == g]
        r2 = (
            r2_all.get(g, {}) if g not in (None, "") and isinstance(r2_all.get(g), dict) else r2_all
        )
        lines += estimate_block(rows, {k: v for k, v in r2.items() if not isinstance(v, dict)})
    for level in result.get("invariance") or []:
        lines.append(
            "  {level:<12} chisq {chisq:10.3f}  df {df:>4}  cfi {cfi:6.3f}  rmsea {rmsea:6.3f}".format(  # noqa: E501
                **{k: level.get(k) or 0 for k in ("level", "chisq", "df", "cfi", "rmsea")}
            )
        )
    for e in result.get("excluded_groups") or []:
        lines.append(f"  group {e['group']} left out (n = {e['n']}): {e['reason']}")
    for t in result.get("path_tests") or []:
        path = " ".join(t["path"][k] for k in ("lhs", "op", "rhs"))
        lines.append(
            f"  {path}: delta chisq {_num(t.get('delta.chisq'), 0)} on {t.get('delta.df')} df, "
            f"p {_num(t.get('delta.pvalue'), 0)}: {t.get('verdict')}"
        )
    return "\n".join(lines).rstrip() + "\n"
