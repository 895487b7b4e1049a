"""``pvm reliability SURVEY`` and ``pvm efa SURVEY``: the psychometrics as readable tables
(or the API's JSON with ``--json``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.deps import split_codes
from app.psychometrics.schemas import EFAParams, ReliabilityParams


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]], first: int = 8) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(header)]
    widths[0] = max(widths[0], first)

    def line(parts: list[str]) -> str:
        pairs = enumerate(zip(parts, widths, strict=True))
        return "  ".join(p.ljust(w) if j == 0 else p.rjust(w) for j, (p, w) in pairs)

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _matrix(name: str, matrix: dict[str, dict[str, float | None]]) -> str:
    keys = list(matrix)
    return f"{name}\n" + _table([""] + keys, [[a] + [matrix[a][b] for b in keys] for a in keys])


def render_reliability(report: dict[str, Any]) -> str:
    """Plain-text tables of a reliability report's ``to_dict()``."""
    out = [f"responses: {report['n']}"]
    out += [f"missing data, {k}: {v}" for k, v in report["missing"].items()]
    if report["model"]["error"]:
        out.append(f"measurement model not fitted: {report['model']['error']}")
    rows = [
        [name, c["n"], c["alpha"], c["omega"], c["cr"], c["ave"]]
        for name, c in report["constructs"].items()
    ]
    out += ["", _table(["construct", "n", "alpha", "omega", "cr", "ave"], rows)]
    items = [
        [i["code"], name, i["mean"], i["sd"], i["item_total_r"], i["alpha_if_deleted"]]
        for name, c in report["constructs"].items()
        for i in c["items"]
    ]
    out += ["", _table(["item", "construct", "mean", "sd", "r.drop", "alpha.drop"], items)]
    out += ["", _matrix("HTMT (Henseler et al. 2015)", report["htmt"])]
    out += ["", _matrix("HTMT2 (geometric means)", report["htmt2"])]
    if report["fornell_larcker"] is not None:
        fl = report["fornell_larcker"]
        out += ["", _matrix("Fornell-Larcker (sqrt(AVE) on the diagonal)", fl["matrix"])]
        failed = [k for k, v in fl["passed"].items() if v is False]
        out.append(
            "criterion met by every construct"
            if not failed
            else f"criterion not met: {', '.join(failed)}"
        )
    boot = report.get("htmt_bootstrap")
    if boot:
        dropped = ", ".join(f"{why} {k}" for why, k in boot["dropped"].items()) or "none"
        out += [
            "",
            f"HTMT bootstrap: {boot['succeeded']} of {boot['draws']} draws (seed {boot['seed']}; "
            f"dropped: {dropped}), {boot['level']:.0%} percentile intervals",
        ]
        rows = [
            [
                f"{p['construct1']}-{p['construct2']}",
                p["htmt"],
                p["ci.lower"],
                p["ci.upper"],
                p["htmt2"],
                p["htmt2.ci.lower"],
                p["htmt2.ci.upper"],
            ]
            for p in boot["pairs"]
        ]
        head = ["pair", "htmt", "lower", "upper", "htmt2", "lower", "upper"]
        out.append(_table(head, rows))
    return "\n".join(out)


def render_efa(result: dict[str, Any], cut: float | None = None) -> str:
    """Plain-text tables of an EFA result's ``to_dict()``: loadings sorted by factor, those
    below ``cut`` (default: the result's, 0.3) blank, as psych's ``print(fa, cut=, sort=TRUE)``."""
    b = result["bartlett"]
    use = result.get("use", "complete")
    if use == "complete":
        kept = f"{result['n_complete']} of {result['n_rows']} rows complete"
    elif use == "fiml":
        kept = f"{result['n_rows']} rows, {result['n_complete']} complete"
    else:
        kept = f"smallest pairwise n {result['n_pairwise_min']} of {result['n_rows']} rows"
    out = [
        f"{result['method']} extraction, {result['rotation']} rotation, {result['factors']} "
        f"factor(s) ({result['factors_source'].replace('_', ' ')}); n = {result['n']} "
        f"({result['missing']}; {kept})",
        f"KMO = {result['kmo']:.3f}; Bartlett chisq = {b['chisq']:.2f}, df = {b['df']}, "
        f"p = {b['p']:.3g}",
        f"parallel analysis suggests {result['parallel_analysis_factors']} factor(s)",
        "eigenvalues: " + ", ".join(f"{v:.3f}" for v in result["eigenvalues"]),
        "",
    ]
    out = [f"warning: {w}" for w in result.get("warnings", [])] + out
    factors = list(next(iter(result["loadings"].values())))
    limit = result["loadings_sorted"]["cut"] if cut is None else cut
    order = [row["item"] for row in result["loadings_sorted"]["rows"]]
    rows = [
        [item]
        + [v if abs(v) >= limit else "" for v in (result["loadings"][item][f] for f in factors)]
        + [result["communalities"][item], result["kmo_items"][item]]
        for item in order
    ]
    out.append(_table(["item"] + factors + ["h2", "MSA"], rows))
    out.append(f"loadings below {limit:g} in absolute value are not shown")
    return "\n".join(out)


def _run(args: argparse.Namespace, compute: Any, render: Any) -> int:
    from app.errors import DomainError
    from app.main import open_session as _session
    from app.surveys.service import get_survey

    with _session() as session:
        try:
            survey = get_survey(session, slug=args.survey)
            result = compute(session, survey).to_dict()
        except DomainError as exc:
            detail = exc.detail
            if isinstance(detail, list):
                detail = "; ".join(str(e.get("msg", e)) for e in detail)
            print(f"error: {detail}", file=sys.stderr)
            return 2
    if args.out:
        from app.psychometrics.tables import report_tables
        from app.tables import write_tables

        try:
            written = write_tables(report_tables(args.command, result), args.out)
        except (OSError, ValueError) as exc:
            print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(render(result))
    return 0


def cmd_reliability(args: argparse.Namespace) -> int:
    from app.psychometrics.service import get_reliability
    from app.stats.validity import HTMT_MAX_DRAWS

    if not 0 <= args.htmt_bootstrap <= HTMT_MAX_DRAWS:
        print(f"error: --htmt-bootstrap must be 0..{HTMT_MAX_DRAWS}", file=sys.stderr)
        return 2

    params = ReliabilityParams(
        branch=split_codes(args.branch),
        constructs=split_codes(args.constructs),
        missing=args.missing,
        htmt_bootstrap=args.htmt_bootstrap,
        seed=args.seed,
    )
    return _run(
        args,
        lambda session, survey: get_reliability(session, survey=survey, params=params),
        render_reliability,
    )


def cmd_efa(args: argparse.Namespace) -> int:
    from app.psychometrics.service import get_efa

    params = EFAParams(
        items=split_codes(args.items),
        constructs=split_codes(args.constructs),
        use=args.use,
        factors=args.factors,
        rotation=args.rotation,
        method=args.method,
        branch=split_codes(args.branch),
        seed=args.seed,
    )
    return _run(
        args,
        lambda session, survey: get_efa(session, survey=survey, params=params),
        lambda result: render_efa(result, cut=args.cut),
    )


def add_commands(sub: Any) -> None:
    _add_reliability_command(sub)
    _add_efa_command(sub)


def _add_reliability_command(sub: Any) -> None:
    """``pvm reliability SURVEY``: its scope, missing-data handling, HTMT bootstrap, output."""
    rel = sub.add_parser("reliability", help="alpha, omega, AVE, HTMT of a survey's constructs")
    rel.add_argument("survey", help="survey slug")
    rel.add_argument("--branch", default=None, help="comma-separated branch codes")
    rel.add_argument("--constructs", default=None, help="comma-separated construct codes")
    rel.add_argument(
        "--missing",
        choices=["fiml", "listwise"],
        default="fiml",
        help="CFA and HTMT with missing items: fiml (default) or listwise",
    )
    rel.add_argument(
        "--htmt-bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="bootstrap draws for percentile intervals of HTMT and HTMT2 (default 0: none)",
    )
    rel.add_argument("--seed", type=int, default=1, help="seed of the HTMT bootstrap (default 1)")
    _add_output_options(rel)
    rel.set_defaults(func=cmd_reliability)


def _add_efa_command(sub: Any) -> None:
    """``pvm efa SURVEY``: its items, missing-data handling, factoring, rotation, output."""
    efa = sub.add_parser("efa", help="exploratory factor analysis of a survey's items")
    efa.add_argument("survey", help="survey slug")
    efa.add_argument("--items", default=None, help="comma-separated item codes (default all)")
    efa.add_argument(
        "--constructs", default=None, help="comma-separated construct codes: their items"
    )
    efa.add_argument(
        "--use",
        choices=["complete", "pairwise", "fiml"],
        default="complete",
        help="complete cases (listwise), pairwise correlations (psych's use=) or fiml: the EM "
        "correlations over every row with an item (lavaan's lavCor(missing='ml'))",
    )
    efa.add_argument(
        "--cut", type=float, default=None, help="hide loadings below this (default 0.3)"
    )
    efa.add_argument("--factors", type=int, default=None, help="default: parallel analysis")
    efa.add_argument(
        "--rotation",
        choices=["oblimin", "varimax", "promax", "none"],
        default="oblimin",
        help="factor rotation (default oblimin)",
    )
    efa.add_argument(
        "--method",
        choices=["minres", "ml", "principal"],
        default="minres",
        help="factoring method (default minres)",
    )
    efa.add_argument("--branch", default=None, help="comma-separated branch codes")
    efa.add_argument("--seed", type=int, default=1, help="parallel analysis seed")
    _add_output_options(efa)
    efa.set_defaults(func=cmd_efa)


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--out FILE``, the same for every psychometrics command."""
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="also write the tables to FILE.xlsx (one sheet each) or FILE.csv (the main table; "
        "the others beside it as FILE.<table>.csv)",
    )
