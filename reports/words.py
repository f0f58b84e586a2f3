"""The report's summary in words, Chinese or English: the figures of the tables (the area's row,
formatted as the tables print them) put in the sentences an auditor writes for their leadership.
Nothing is computed here that the tables do not hold."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pdf import Layout

WARNINGS = {"deficit": {"zh": "超支预警", "en": "heading for a deficit"},
            "surplus": {"zh": "结余过多", "en": "surplus above the limits"}}


def sentences(layout: "Layout", code: str | None = None) -> list[str]:
    """Paragraphs about the area (``code`` None) or one county of a provincial report."""
    f = lambda table, column: layout.figure(table, column, code)  # noqa: E731
    zh = layout.lang == "zh"
    out = [_enrolment(f, zh), _compensation(f, zh), _fund(layout, f, zh, code), _supervision(f, zh)]
    if code is None:
        out.append(_timeliness(layout, zh))
    return [p for p in out if p]


def _enrolment(f: Any, zh: bool) -> str:
    if zh:
        return (f"参合人数 {f('enrolment', 'members')} 人，参合率 {f('enrolment', 'participation_rate')}%。"
                f"本期筹资 {f('financing_by_source', 'financing')} 万元，其中中央补助 "
                f"{f('financing_by_source', 'financing_central')} 万元、个人缴费 "
                f"{f('financing_by_source', 'financing_individual')} 万元。")
    return (f"{f('enrolment', 'members')} members, a participation rate of {f('enrolment', 'participation_rate')}%. "
            f"Financing raised in the period: {f('financing_by_source', 'financing')} (10k yuan), of which central "
            f"subsidies {f('financing_by_source', 'financing_central')} and individual contributions "
            f"{f('financing_by_source', 'financing_individual')}.")


def _compensation(f: Any, zh: bool) -> str:
    if zh:
        return (f"本期补偿支出 {f('compensation_by_type', 'compensation')} 万元，其中住院 "
                f"{f('compensation_by_type', 'compensation_inpatient')} 万元（{f('compensation_by_type', 'stays')} "
                f"人次）、门诊 {f('compensation_by_type', 'compensation_outpatient')} 万元"
                f"（{f('compensation_by_type', 'visits')} 人次）；次均住院费用 {f('cost_and_coverage', 'cost_per_stay')} "
                f"元，住院实际补偿比 {f('cost_and_coverage', 'actual_compensation_ratio_inpatient')}%，"
                f"县外住院比例 {f('out_of_county_care', 'out_of_county_stay_share')}%。")
    return (f"Compensation paid: {f('compensation_by_type', 'compensation')} (10k yuan): inpatient "
            f"{f('compensation_by_type', 'compensation_inpatient')} over {f('compensation_by_type', 'stays')} stays, "
            f"outpatient {f('compensation_by_type', 'compensation_outpatient')} over "
            f"{f('compensation_by_type', 'visits')} visits. A stay cost {f('cost_and_coverage', 'cost_per_stay')} "
            f"yuan on average; the fund paid {f('cost_and_coverage', 'actual_compensation_ratio_inpatient')}% of "
            f"inpatient costs; {f('out_of_county_care', 'out_of_county_stay_share')}% of stays were outside the "
            f"member's county.")


def _fund(layout: "Layout", f: Any, zh: bool, code: str | None) -> str:
    usage, elapsed = f("fund_balance", "fund_usage_rate"), f("fund_balance", "elapsed_share")
    surplus, cumulative = f("fund_balance", "surplus_rate"), f("fund_balance", "cumulative_surplus_rate")
    text = (f"截至期末，当年基金使用率 {usage}%（时间进度 {elapsed}%），当年结余率 {surplus}%，累计结余率 {cumulative}%。"
            if zh else f"By the period's end the year's fund usage was {usage}% (time elapsed {elapsed}%), its "
            f"surplus rate {surplus}%, the cumulative surplus rate {cumulative}%.")
    table = layout.tables["fund_balance"]
    warned = [(c, n, w) for c, n, w in zip(table.column("county"), table.column("name"), table.column("fund_warning"))
              if w in WARNINGS and c != layout.content.province_code and (code is None or c == code)]
    lang = layout.lang
    if warned:
        named = "、".join if zh else "; ".join
        text += ("基金预警：" if zh else " Fund warnings: ") + named(
            f"{layout.content.label('name', n, lang)}（{WARNINGS[w][lang]}）" if zh
            else f"{layout.content.label('name', n, lang)} ({WARNINGS[w][lang]})" for _, n, w in warned) + \
            ("。" if zh else ".")
    elif code is None:
        text += "各县基金运行未触发预警。" if zh else " No county's fund raised a warning."
    return text


def _supervision(f: Any, zh: bool) -> str:
    s = lambda column: f("supervision_by_county", column)  # noqa: E731
    if zh:
        return (f"本期监控发现疑点 {s('raised')} 条，已推送县区 {s('pushed')} 条，认定违规 {s('determined')} 条，"
                f"排除 {s('dismissed')} 条，尚待处理 {s('undecided')} 条；涉及金额 {s('money_at_stake')} 万元，"
                f"应追回 {s('amount_to_recover')} 万元，已追回 {s('amount_recovered')} 万元。")
    return (f"Monitoring raised {s('raised')} findings: {s('pushed')} pushed to the counties, {s('determined')} "
            f"determined violations, {s('dismissed')} dismissed, {s('undecided')} undecided; money at stake "
            f"{s('money_at_stake')}, to recover {s('amount_to_recover')}, recovered {s('amount_recovered')} "
            f"(10k yuan).")


def _timeliness(layout: "Layout", zh: bool) -> str:
    table = layout.tables.get("data_timeliness")
    if table is None:
        return ""
    behind = [(n, b) for n, b in zip(table.column("name"), table.column("periods_behind")) if b is None or b > 0]
    if not behind:
        return "各县数据均按期上报。" if zh else "Every county's data arrived on time."
    lang = layout.lang
    named = [f"{layout.content.label('name', n, lang)}（{'未接收' if b is None else f'滞后 {b} 期'}）" if zh
             else f"{layout.content.label('name', n, lang)} ({'nothing received' if b is None else f'{b} behind'})"
             for n, b in behind]
    return (f"数据上报：{len(table.rows) - len(behind)} 个县按期，{len(behind)} 个县滞后：" + "、".join(named) + "。"
            if zh else f"Data: {len(table.rows) - len(behind)} counties on time, {len(behind)} behind: "
            + "; ".join(named) + ".")
