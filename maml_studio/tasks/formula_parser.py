"""A small, closed grammar for users' formulas, parsed by hand.

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | power
    power      := atom ("**" unary)?            right-associative, binds tighter than unary minus
    atom       := number | name | function "(" expression ("," expression)* ")" | "(" expression ")"

Names are the inputs (``x``, or ``x1`` … ``xd``), the parameters the user
declared, and the constants ``pi`` and ``e``; functions come from a fixed
list. Nothing else is accepted: no attribute access, indexing, strings,
keywords or other calls. The text is never handed to Python's ``eval``,
``exec``, ``compile`` or ``ast``; it becomes a tree of `Node`s that
`formula_torch` turns into tensor operations. Length and nesting are limited
before any recursion, and every error names the column it found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from maml_studio.errors import ConfigError

MAX_LENGTH = 2000  # characters of one expression
MAX_DEPTH = 60  # nesting of parentheses, calls, signs and powers
MAX_NODES = 400

# name: (least arguments, most arguments, what it does)
FUNCTIONS: dict[str, tuple[int, int, str]] = {
    "sin": (1, 1, "sine"), "cos": (1, 1, "cosine"), "tan": (1, 1, "tangent"),
    "tanh": (1, 1, "hyperbolic tangent"), "exp": (1, 1, "e to the power"),
    "log": (1, 1, "natural logarithm"), "sqrt": (1, 1, "square root"),
    "abs": (1, 1, "absolute value"), "sigmoid": (1, 1, "1 / (1 + exp(-u))"),
    "relu": (1, 1, "max(u, 0)"), "min": (2, 8, "smallest argument"),
    "max": (2, 8, "largest argument"),
    "where": (3, 3, "where(c, a, b): a where c > 0, else b"),
}
CONSTANTS = ("pi", "e")
INPUT_PATTERN = re.compile(r"x(\d*)\Z")
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|[-+*/(),])
""", re.VERBOSE)

_HINTS = {
    "^": "use ** for powers",
    ".": "there is no attribute access; only numbers may contain a point",
    "'": "strings are not part of formulas", '"': "strings are not part of formulas",
    "[": "there is no indexing; name inputs x1, x2, …", "]": "there is no indexing",
    "=": "a formula is an expression, not an assignment or comparison",
    "<": "there are no comparisons; where(c, a, b) takes a where c > 0",
    ">": "there are no comparisons; where(c, a, b) takes a where c > 0",
    ":": "there are no lambdas, slices or blocks",
}


class FormulaError(ConfigError):
    """A formula that is not in the grammar; ``column`` counts from 1 (0: the whole text)."""

    def __init__(self, message: str, column: int = 0) -> None:
        super().__init__(f"{message} at column {column}" if column else message)
        self.column = column
        self.reason = message


@dataclass(frozen=True)
class Node:
    """``kind`` is number, input, param, const, neg, add, sub, mul, div, pow or call."""

    kind: str
    value: float | str | int = 0
    args: tuple[Node, ...] = ()
    column: int = 0


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, end, bad
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    """Tokens of ``text``; a character outside the grammar becomes a `bad` token, so the
    parser reports the leftmost problem whatever its kind."""
    out, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            out.append(_Token("bad", text[position], position + 1))
            return out
        if match.lastgroup != "space":
            out.append(_Token(match.lastgroup, match.group(), position + 1))
        position = match.end()
    out.append(_Token("end", "", len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str, parameters: tuple[str, ...]) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.depth = 0
        self.nodes = 0
        self.parameters = parameters

    # -- token helpers ------------------------------------------------------------------------
    @property
    def token(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind == "bad":
            hint = _HINTS.get(token.text, "it is not part of the formula grammar")
            raise FormulaError(f"unexpected character `{token.text}` ({hint})", token.column)
        return token

    def take(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.token
        return token.kind == "op" and token.text in texts

    def expect(self, text: str, why: str) -> None:
        token = self.token
        if not (token.kind == "op" and token.text == text):
            found = "the end" if token.kind == "end" else f"`{token.text}`"
            raise FormulaError(f"expected `{text}` {why}, found {found}", token.column)
        self.index += 1

    def node(self, *args, **kwargs) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FormulaError(f"formula too long: more than {MAX_NODES} numbers, names and "
                               f"operations", self.tokens[self.index - 1].column)
        return Node(*args, **kwargs)

    def enter(self, column: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(f"formula nested too deeply (more than {MAX_DEPTH} levels)", column)

    # -- grammar ------------------------------------------------------------------------------
    def expression(self) -> Node:
        self.enter(self.token.column)
        left = self.term()
        while self.at("+", "-"):
            op = self.take()
            left = self.node("add" if op.text == "+" else "sub", args=(left, self.term()),
                             column=op.column)
        self.depth -= 1
        return left

    def term(self) -> Node:
        left = self.unary()
        while self.at("*", "/"):
            op = self.take()
            left = self.node("mul" if op.text == "*" else "div", args=(left, self.unary()),
                             column=op.column)
        return left

    def unary(self) -> Node:
        if self.at("-", "+"):
            op = self.take()
            self.enter(op.column)
            operand = self.unary()
            self.depth -= 1
            return self.node("neg", args=(operand,), column=op.column) if op.text == "-" else operand
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.at("**"):
            op = self.take()
            self.enter(op.column)
            exponent = self.unary()
            self.depth -= 1
            return self.node("pow", args=(base, exponent), column=op.column)
        return base

    def atom(self) -> Node:
        token = self.token
        if token.kind == "number":
            self.index += 1
            value = float(token.text)
            if value != value or value in (float("inf"), float("-inf")):
                raise FormulaError(f"number `{token.text}` is too large", token.column)
            return self.node("number", value, column=token.column)
        if token.kind == "name":
            self.index += 1
            return self.name(token)
        if self.at("("):
            self.index += 1
            inner = self.expression()
            self.expect(")", f"to close the `(` at column {token.column}")
            return inner
        found = "the end of the formula" if token.kind == "end" else f"`{token.text}`"
        raise FormulaError(f"expected a number, a name or `(`, found {found}", token.column)

    def name(self, token: _Token) -> Node:
        name, column = token.text, token.column
        called = self.at("(")
        if name in FUNCTIONS:
            if not called:
                raise FormulaError(f"`{name}` is a function: write {name}(…)", column)
            return self.call(name, column)
        if called:
            what = "a parameter, not a function" if name in self.parameters else "unknown function"
            raise FormulaError(f"{what} `{name}` (functions: {', '.join(FUNCTIONS)})", column)
        if name in CONSTANTS:
            return self.node("const", name, column=column)
        if name in self.parameters:
            return self.node("param", name, column=column)
        match = INPUT_PATTERN.match(name)
        if match:
            index = int(match.group(1)) if match.group(1) else 0
            if match.group(1) and not 1 <= index <= 100:
                raise FormulaError(f"input `{name}` out of range: inputs are x1 … x100", column)
            return self.node("input", index, column=column)
        declared = ", ".join(self.parameters) or "none yet; give each a range"
        raise FormulaError(f"unknown name `{name}` (inputs: x or x1, x2, …; parameters: "
                           f"{declared}; constants: pi, e)", column)

    def call(self, name: str, column: int) -> Node:
        self.index += 1  # the "("
        self.enter(column)
        args = [self.expression()]
        while self.at(","):
            self.index += 1
            args.append(self.expression())
        self.expect(")", f"to close `{name}(` at column {column}")
        self.depth -= 1
        least, most, _ = FUNCTIONS[name]
        if not least <= len(args) <= most:
            wanted = str(least) if least == most else f"{least} to {most}"
            raise FormulaError(f"{name}() takes {wanted} argument(s), got {len(args)}", column)
        return self.node("call", name, tuple(args), column)


def parse(text: str, parameters: tuple[str, ...] | list[str] = ()) -> Node:
    """The tree of one expression; raises `FormulaError` with the column of the first problem."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula is text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula too long: {len(text):,} characters, at most {MAX_LENGTH:,}")
    if not text.strip():
        raise FormulaError("the formula is empty")
    parser = _Parser(text, tuple(parameters))
    tree = parser.expression()
    token = parser.token
    if token.kind in ("name", "number") or token.text == "(":
        raise FormulaError(f"missing an operator before `{token.text}` (write 2 * x, not 2x)",
                           token.column)
    if token.kind != "end":
        raise FormulaError(f"unexpected `{token.text}` after a complete expression", token.column)
    return tree


def split_outputs(text: str) -> list[tuple[str, int]]:
    """The ``;``-separated expressions of ``text`` with the column each starts at."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula is text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH * 4:
        raise FormulaError(f"formula too long: {len(text):,} characters, at most "
                           f"{MAX_LENGTH * 4:,}")
    parts, start = [], 0
    for piece in text.split(";"):
        parts.append((piece, start))
        start += len(piece) + 1
    if len(parts) > 10:
        raise FormulaError(f"at most 10 expressions separated by `;`, got {len(parts)}")
    return parts


def parse_outputs(text: str, parameters: tuple[str, ...] | list[str] = ()) -> list[Node]:
    """One tree per ``;``-separated expression; error columns count in the whole text."""
    trees = []
    for piece, offset in split_outputs(text):
        try:
            trees.append(parse(piece, parameters))
        except FormulaError as exc:
            if not exc.column:
                raise
            raise FormulaError(exc.reason, exc.column + offset) from None
    return trees


def names_used(tree: Node, kind: str) -> set:
    """Values of the nodes of ``kind`` (e.g. every input index or parameter name) in ``tree``."""
    found, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if node.kind == kind:
            found.add(node.value)
        stack.extend(node.args)
    return found


def check_parameter_name(name: str) -> None:
    """Parameter names: a letter, then letters, digits or underscores; not a reserved name."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 32:
        raise FormulaError(f"task.ranges: parameter name {name!r} must start with a letter and "
                           f"hold only letters, digits and underscores (at most 32)")
    if name in FUNCTIONS or name in CONSTANTS or INPUT_PATTERN.match(name):
        raise FormulaError(f"task.ranges: `{name}` is reserved (a function, constant or input "
                           f"name); choose another parameter name")
