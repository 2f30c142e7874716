"""Print one of the two commands README.md opens with: `setup` (the first shell block) or
`test` (the second). CI runs the test command from here, so README and CI cannot drift."""

import pathlib
import re
import sys

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def commands() -> dict[str, str]:
    blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", README.read_text(), flags=re.S)
    if len(blocks) < 2:
        raise SystemExit("README.md must open with two shell blocks: set-up + main job, tests.")
    return {"setup": blocks[0].strip(), "test": blocks[1].strip()}


if __name__ == "__main__":
    print(commands()[sys.argv[1] if len(sys.argv) > 1 else "test"])
