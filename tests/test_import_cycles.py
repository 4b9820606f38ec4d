"""No two modules of minicnn import each other, directly or round a longer loop.

A cycle makes the import order matter: whichever module Python reaches first
runs while the other is half made, and a name used at import time can be
missing. So the rule is: imports point one way.

The check reads every module under minicnn/ with ``ast`` (nothing is
imported) and draws an edge A -> B for every import of B in A, at module level
or inside a function, relative imports resolved. ``from P import x`` is an
edge to the module P.x when x is a submodule of P, else an edge to P itself.

One cycle is allowed, at the base of the engine. minicnn.engine.arithmetic
makes the Functions behind Tensor's operators, so it imports Function from
minicnn.engine.tensor at its top, and Tensor's operators call arithmetic's
Functions. tensor.py imports arithmetic once, as its last statement, when
Tensor and Function are defined: whichever of the two is imported first, the
other finds every name it needs. That edge is allowed only in that place;
anywhere else (inside a method, or above a definition) it counts.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minicnn"

ALLOWED_EDGE = ("minicnn.engine.tensor", "minicnn.engine.arithmetic")


def module_name(path, root=PACKAGE):
    """minicnn/engine/tensor.py -> "minicnn.engine.tensor"; a package's __init__.py -> the package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules(root=PACKAGE):
    """{dotted name: path} of every .py file under root."""
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _package_of(name, path):
    """The package a relative import in this file starts from: a module's parent, a package itself."""
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _bottom_import(tree, node):
    """True when ``node`` is a module-level statement below every def and class of the file."""
    if node not in tree.body:
        return False
    index = tree.body.index(node)
    return not any(isinstance(later, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                   for later in tree.body[index + 1:])


def import_edges(modules, root_name="minicnn"):
    """[(importer, imported, line, bottom)]: every import between modules of the package.

    bottom: the import is a module-level statement below every definition.
    """
    edges = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _package_of(name, path).split(".")
                    base = base[:len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    targets.append(submodule if submodule in modules else source)
            for target in targets:
                if target == root_name or target.startswith(root_name + "."):
                    while target not in modules:        # import a.b.c of a name c: the module a.b
                        target = target.rpartition(".")[0]
                    edges.append((name, target, node.lineno, _bottom_import(tree, node)))
    return edges


def graph(edges, allowed=ALLOWED_EDGE):
    """{module: {imported module: [lines]}}, leaving out the allowed edge only where it is a bottom import."""
    lines_of = {}
    for importer, imported, line, bottom in edges:
        if (importer, imported) == allowed and bottom:
            continue
        lines = lines_of.setdefault(importer, {}).setdefault(imported, [])
        if line not in lines:                           # from x import a, b: one line, two names
            lines.append(line)
    return lines_of


def cycles(lines_of):
    """The strongly connected components with more than one module (or a module importing itself).

    Tarjan's algorithm: each component returned is a set of modules that all
    reach one another through imports, i.e. one or more cycles among them.
    """
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in lines_of.get(module, {}):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in lines_of.get(module, {}):
                found.append(sorted(component))

    for module in sorted(lines_of):
        if module not in index:
            visit(module)
    return found


def describe(component, lines_of, modules, root=PACKAGE):
    """The modules of a cycle and every import between them: "a -> b   (minicnn/a.py, line 12)"."""
    text = [f"cycle among {len(component)} modules: " + ", ".join(component)]
    for importer in component:
        for imported, lines in sorted(lines_of.get(importer, {}).items()):
            if imported in component:
                where = modules[importer].relative_to(root.parent)
                numbers = ("lines " if len(lines) > 1 else "line ") + ", ".join(map(str, lines))
                text.append(f"    {importer} -> {imported}   ({where}, {numbers})")
    return "\n".join(text)


def test_no_module_of_minicnn_is_in_an_import_cycle():
    modules = all_modules()
    lines_of = graph(import_edges(modules))
    found = cycles(lines_of)
    assert not found, ("import cycles in minicnn (break each by moving what both sides need "
                       "into a module below them, or the chooser above them):\n"
                       + "\n".join(describe(component, lines_of, modules) for component in found))


def test_the_one_allowed_cycle_is_tensor_importing_arithmetic_at_its_bottom():
    """Both edges are really there (so the check above reads them), and tensor's is the bottom import."""
    edges = import_edges(all_modules())
    tensor_to_arithmetic = [edge for edge in edges if edge[:2] == ALLOWED_EDGE]
    assert [edge for edge in edges if edge[:2] == ALLOWED_EDGE[::-1]], "arithmetic no longer imports tensor"
    assert len(tensor_to_arithmetic) == 1, (
        f"tensor.py imports arithmetic {len(tensor_to_arithmetic)} times (lines "
        f"{[edge[2] for edge in tensor_to_arithmetic]}); once, as its last statement, is the allowed form")
    assert tensor_to_arithmetic[0][3], (
        f"tensor.py imports arithmetic on line {tensor_to_arithmetic[0][2]}, above a definition; "
        "the allowed form is one import below every def and class")


def test_the_check_finds_a_cycle_through_a_function_level_import(tmp_path):
    """A made-up package: a imports b at the top, b imports a inside a function; c imports b.x."""
    root = tmp_path / "minicnn"
    (root / "b").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from .b import helper\n")
    (root / "b" / "__init__.py").write_text("def helper():\n    from .. import a\n    return a\n")
    (root / "b" / "x.py").write_text("")
    (root / "c.py").write_text("from .b import x\nimport minicnn.b.x\n")
    modules = all_modules(root)
    lines_of = graph(import_edges(modules))
    assert lines_of["minicnn.c"] == {"minicnn.b.x": [1, 2]}        # a submodule: the edge goes to it
    assert cycles(lines_of) == [["minicnn.a", "minicnn.b"]]
