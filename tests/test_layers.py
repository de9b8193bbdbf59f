"""The layers of docs/architecture.md: the method never imports the study around it."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "img2music_tf"
OUTSIDE_THE_METHOD = ("study", "commands", "cli.py", "__main__.py")


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update([node.module] + [f"{node.module}.{alias.name}" for alias in node.names])
    return names


def test_the_method_never_imports_the_study():
    method = [path for path in PACKAGE.rglob("*.py")
              if path.relative_to(PACKAGE).parts[0] not in OUTSIDE_THE_METHOD]
    assert len(method) > 40
    reaching = {str(path.relative_to(PACKAGE)): sorted(name for name in _imported(path)
                                                       if name.startswith("img2music_tf.study"))
                for path in method}
    assert not {path: names for path, names in reaching.items() if names}
