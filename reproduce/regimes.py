"""The paper's tables beside ours in both data regimes (authors' pairs, all of EIMG): results/regimes.md.

Reads results/<data>/table1.json and table2.json as `make table1 DATA=...` wrote them; run after those.

    python reproduce/regimes.py            # = make regimes
"""

import argparse
import json
import sys
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.errors import UserError
from img2music_tf.files import write_text
from img2music_tf.paths import results_dir
from img2music_tf.study.report import markdown_regimes

RESULTS = results_dir()


def main(argv: list[str] | None = None) -> int:
    Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    tables = {
        data: {path.stem: json.loads(path.read_text()) for path in sorted((RESULTS / data).glob("table*.json"))}
        for data in ("authors", "eimg")
    }
    if not any(tables.values()):
        raise UserError("no results/<data>/table*.json yet: run `make table1` first")
    print(f"wrote {write_text(RESULTS / 'regimes.md', markdown_regimes(tables))}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting(main))
