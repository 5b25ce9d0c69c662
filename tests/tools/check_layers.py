#!/usr/bin/env python3
"""Fails on an #include that points up the layer order of ARCHITECTURE.md.

The order is read from the fenced block under "## Layers" in
docs/ARCHITECTURE.md, so the document and the check cannot disagree:
    labrun < util < ... < cli
A file in runner/src/<folder>/ may include "<other>/..." only when <other>
stands at or left of <folder>; runner/include/labrun/ (the plugin API)
includes only itself; a bare name is a header of the file's own folder or
of plugins/common (the layer 'common'). A plugin (plugins/) includes the plugin API, its own
folder and plugins/common only. A folder missing from the order is an error
too, so a new folder must be placed in it.
    check_layers.py REPO_ROOT
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def layer_order(architecture):
    text = architecture.read_text()
    match = re.search(r"^## Layers\n.*?^```\n(.*?)^```", text,
                      re.MULTILINE | re.DOTALL)
    if not match:
        sys.exit(f"{architecture}: no fenced layer order under '## Layers'")
    names = [name.strip() for name in match.group(1).split("<")]
    return {name: rank for rank, name in enumerate(names)}


def layer_of(include, path, layer, root):
    """The layer an include points to: its first folder; a bare name is the
    including file's own folder, or plugins/common ('common')."""
    if "/" in include:
        return include.split("/")[0]
    if (path.parent / include).exists():
        return layer
    if (root / "plugins" / "common" / include).exists():
        return "common"
    return include


def sources(folder):
    return sorted(p for p in folder.rglob("*") if p.suffix in (".h", ".cpp"))


def main(root):
    root = pathlib.Path(root)
    rank = layer_order(root / "docs" / "ARCHITECTURE.md")
    problems = []
    layered = [(root / "runner" / "include" / "labrun", "labrun")]
    layered += [(d, d.name) for d in sorted((root / "runner" / "src").iterdir())
                if d.is_dir()]
    for folder, layer in layered:
        if layer not in rank:
            problems.append(f"{folder.relative_to(root)}/: folder '{layer}' "
                            "is not in ARCHITECTURE.md's layer order")
            continue
        for path in sources(folder):
            text = path.read_text()
            for match in INCLUDE.finditer(text):
                target = layer_of(match.group(1), path, layer, root)
                line = text.count("\n", 0, match.start()) + 1
                where = f"{path.relative_to(root)}:{line}"
                if target not in rank:
                    problems.append(f"{where}: includes \"{match.group(1)}\" "
                                    f"from '{target}', not in the layer order")
                elif rank[target] > rank[layer]:
                    problems.append(
                        f"{where}: '{layer}' includes \"{match.group(1)}\", "
                        f"which is above it ('{target}'); the order is "
                        + " < ".join(rank))
    common = root / "plugins" / "common"
    for path in sources(root / "plugins"):
        text = path.read_text()
        for match in INCLUDE.finditer(text):
            name = match.group(1)
            if name.startswith("labrun/") or (path.parent / name).exists() or \
                    (common / name).exists():
                continue
            line = text.count("\n", 0, match.start()) + 1
            problems.append(f"{path.relative_to(root)}:{line}: a plugin "
                            f"includes \"{name}\"; plugins may include only "
                            "labrun/, their own folder and plugins/common")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"include layers: {len(rank)} layers, no include points up")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
