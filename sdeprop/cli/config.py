"""``sdeprop config``: the default configuration (TOML) or the key reference (Markdown)."""

from __future__ import annotations


def add_parser(subparsers):
    p = subparsers.add_parser(
        "config", help="print the default configuration (TOML) or the key reference (--markdown)"
    )
    p.add_argument("--markdown", action="store_true", help="the key reference as Markdown tables instead")
    return p


def main(args):
    from ..config import Config, describe_schema_markdown

    print(describe_schema_markdown() if args.markdown else Config().to_toml(), end="")
