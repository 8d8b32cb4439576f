//! XPath 1.0 lexer and parser. The tree is used to check function names and arities, record
//! what the expression reads and to re-emit a rewritten text for sxd-xpath (see `compile`).

use std::fmt::Write as _;

/// Byte range in the expression text.
pub(crate) type Range = (usize, usize);

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    DotDot,
    At,
    Comma,
    ColonColon,
    Slash,
    SlashSlash,
    Pipe,
    Plus,
    Minus,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Star,
    /// A literal, unquoted.
    Literal(String),
    /// A number and its source text.
    Number(f64, String),
    /// `$name` / `$prefix:name`.
    Var(Option<String>, String),
    /// `name`, `prefix:name`, `prefix:*`.
    Name(Option<String>, String),
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub range: Range,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub range: Range,
}

fn err<T>(message: impl Into<String>, range: Range) -> Result<T, SyntaxError> {
    Err(SyntaxError {
        message: message.into(),
        range,
    })
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{b7}')
}

/// Split into tokens.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut out = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        let single = |t: Tok| Token {
            tok: t,
            range: (i, i + c.len_utf8()),
        };
        match c {
            '(' | ')' | '[' | ']' | '@' | ',' | '|' | '+' | '-' | '=' | '*' => {
                it.next();
                out.push(single(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    '@' => Tok::At,
                    ',' => Tok::Comma,
                    '|' => Tok::Pipe,
                    '+' => Tok::Plus,
                    '-' => Tok::Minus,
                    '=' => Tok::Eq,
                    _ => Tok::Star,
                }));
            }
            '!' => {
                it.next();
                if matches!(it.peek(), Some((_, '='))) {
                    it.next();
                    out.push(Token {
                        tok: Tok::Ne,
                        range: (i, i + 2),
                    });
                } else {
                    return err(
                        "unexpected '!' (did you mean '!=' or not(...)?)",
                        (i, i + 1),
                    );
                }
            }
            '<' | '>' => {
                it.next();
                let eq = matches!(it.peek(), Some((_, '=')));
                if eq {
                    it.next();
                }
                let tok = match (c, eq) {
                    ('<', false) => Tok::Lt,
                    ('<', true) => Tok::Le,
                    ('>', false) => Tok::Gt,
                    _ => Tok::Ge,
                };
                out.push(Token {
                    tok,
                    range: (i, i + 1 + eq as usize),
                });
            }
            ':' => {
                it.next();
                if matches!(it.peek(), Some((_, ':'))) {
                    it.next();
                    out.push(Token {
                        tok: Tok::ColonColon,
                        range: (i, i + 2),
                    });
                } else {
                    return err("unexpected ':'", (i, i + 1));
                }
            }
            '/' => {
                it.next();
                if matches!(it.peek(), Some((_, '/'))) {
                    it.next();
                    out.push(Token {
                        tok: Tok::SlashSlash,
                        range: (i, i + 2),
                    });
                } else {
                    out.push(single(Tok::Slash));
                }
            }
            '"' | '\'' => {
                it.next();
                let start = i + 1;
                let mut end = None;
                for (j, d) in it.by_ref() {
                    if d == c {
                        end = Some(j);
                        break;
                    }
                }
                match end {
                    Some(j) => out.push(Token {
                        tok: Tok::Literal(text[start..j].to_string()),
                        range: (i, j + 1),
                    }),
                    None => return err("unterminated string literal", (i, text.len())),
                }
            }
            '.' | '0'..='9' => {
                // `.`, `..`, or a number
                let rest = &text[i..];
                if rest.starts_with("..") {
                    it.next();
                    it.next();
                    out.push(Token {
                        tok: Tok::DotDot,
                        range: (i, i + 2),
                    });
                    continue;
                }
                let next_is_digit = rest[1..].starts_with(|d: char| d.is_ascii_digit());
                if c == '.' && !next_is_digit {
                    it.next();
                    out.push(single(Tok::Dot));
                    continue;
                }
                let mut end = i;
                let mut seen_dot = false;
                while let Some(&(j, d)) = it.peek() {
                    if d.is_ascii_digit() || (d == '.' && !seen_dot) {
                        seen_dot |= d == '.';
                        end = j + 1;
                        it.next();
                    } else {
                        break;
                    }
                }
                let s = &text[i..end];
                let v: f64 = s.parse().unwrap_or(f64::NAN);
                out.push(Token {
                    tok: Tok::Number(v, s.to_string()),
                    range: (i, end),
                });
            }
            '$' => {
                it.next();
                let (prefix, local, end) = lex_qname(text, &mut it, i + 1)?;
                if local == "*" {
                    return err("invalid variable name", (i, end));
                }
                out.push(Token {
                    tok: Tok::Var(prefix, local),
                    range: (i, end),
                });
            }
            c if is_name_start(c) => {
                let (prefix, local, end) = lex_qname(text, &mut it, i)?;
                out.push(Token {
                    tok: Tok::Name(prefix, local),
                    range: (i, end),
                });
            }
            _ => return err(format!("unexpected character {c:?}"), (i, i + c.len_utf8())),
        }
    }
    Ok(out)
}

fn lex_ncname(
    text: &str,
    it: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    start: usize,
) -> Result<(String, usize), SyntaxError> {
    match it.peek() {
        Some(&(_, c)) if is_name_start(c) => {}
        _ => return err("expected a name", (start, start + 1)),
    }
    let mut end = start;
    while let Some(&(j, d)) = it.peek() {
        if is_name_char(d) {
            end = j + d.len_utf8();
            it.next();
        } else {
            break;
        }
    }
    Ok((text[start..end].to_string(), end))
}

fn lex_qname(
    text: &str,
    it: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    start: usize,
) -> Result<(Option<String>, String, usize), SyntaxError> {
    let (first, end) = lex_ncname(text, it, start)?;
    // `prefix:local` (but not `axis::`)
    if text[end..].starts_with(':') && !text[end..].starts_with("::") {
        let after = &text[end + 1..];
        if after.starts_with('*') {
            it.next();
            it.next();
            return Ok((Some(first), "*".into(), end + 2));
        }
        if after.starts_with(is_name_start) {
            it.next();
            let (local, end2) = lex_ncname(text, it, end + 1)?;
            return Ok((Some(first), local, end2));
        }
    }
    Ok((None, first, end))
}

// === AST ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Union,
}

impl BinOp {
    pub fn is_arith(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod
        )
    }
    pub fn is_relational(self) -> bool {
        matches!(self, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
    fn text(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "div",
            BinOp::Mod => "mod",
            BinOp::Union => "|",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Literal(String),
    Number(f64, String),
    Var {
        prefix: Option<String>,
        local: String,
        range: Range,
    },
    Call {
        prefix: Option<String>,
        name: String,
        args: Vec<Expr>,
        range: Range,
    },
    Group(Box<Expr>),
    Filter {
        primary: Box<Expr>,
        predicates: Vec<Expr>,
    },
    Path {
        start: PathStart,
        steps: Vec<Step>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PathStart {
    /// `/…`
    Root,
    /// `//…`
    RootDescendant,
    Relative,
    /// `filter/…` or `filter//…` (bool: descendant).
    From(Box<Expr>, bool),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Step {
    /// Explicit `axis::`; `@` is `attribute`.
    pub axis: Option<String>,
    pub test: NodeTest,
    pub predicates: Vec<Expr>,
    pub range: Range,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NodeTest {
    /// Name test; `local` may be `*`.
    Name(Option<String>, String),
    /// `node()`, `text()`, `comment()`, `processing-instruction()`.
    Type(String, Option<String>),
    /// `.`
    SelfAbbrev,
    /// `..`
    ParentAbbrev,
}

const AXES: &[&str] = &[
    "ancestor",
    "ancestor-or-self",
    "attribute",
    "child",
    "descendant",
    "descendant-or-self",
    "following",
    "following-sibling",
    "namespace",
    "parent",
    "preceding",
    "preceding-sibling",
    "self",
];

const NODE_TYPES: &[&str] = &["node", "text", "comment", "processing-instruction"];

/// Parse an expression.
pub(crate) fn parse(text: &str) -> Result<Expr, SyntaxError> {
    let toks = lex(text)?;
    if toks.is_empty() {
        return err("empty expression", (0, text.len()));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        len: text.len(),
        depth: 0,
        ops: 0,
    };
    let e = p.expr()?;
    if let Some(t) = p.toks.get(p.pos) {
        return err("unexpected token after the end of the expression", t.range);
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    len: usize,
    depth: usize,
    ops: usize,
}

/// Nesting limit (parentheses, predicates, arguments, unary minus).
const MAX_DEPTH: usize = 64;
/// Limit on binary operators in one expression (left-deep chains grow the tree's depth).
const MAX_OPS: usize = 512;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|t| &t.tok)
    }
    fn range(&self) -> Range {
        self.toks
            .get(self.pos)
            .map(|t| t.range)
            .unwrap_or((self.len, self.len))
    }
    fn bump(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: Tok, what: &str) -> Result<Range, SyntaxError> {
        let r = self.range();
        if self.eat(&t) {
            Ok(r)
        } else {
            err(format!("expected {what}"), r)
        }
    }
    /// An operator name (`and`, `or`, `div`, `mod`) in operator position.
    fn peek_opname(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(None, n)) if n == name)
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("expression nested too deeply", self.range());
        }
        let r = self.or_expr();
        self.depth -= 1;
        r
    }

    fn op(&mut self) -> Result<(), SyntaxError> {
        self.ops += 1;
        if self.ops > MAX_OPS {
            return err("expression has too many operators", self.range());
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.and_expr()?;
        while self.peek_opname("or") {
            self.pos += 1;
            let r = self.and_expr()?;
            self.op()?;
            l = Expr::Binary(BinOp::Or, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and_expr(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.eq_expr()?;
        while self.peek_opname("and") {
            self.pos += 1;
            let r = self.eq_expr()?;
            self.op()?;
            l = Expr::Binary(BinOp::And, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn eq_expr(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.rel_expr()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Eq) => BinOp::Eq,
                Some(Tok::Ne) => BinOp::Ne,
                _ => return Ok(l),
            };
            self.pos += 1;
            let r = self.rel_expr()?;
            self.op()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }
    fn rel_expr(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.add_expr()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Lt) => BinOp::Lt,
                Some(Tok::Le) => BinOp::Le,
                Some(Tok::Gt) => BinOp::Gt,
                Some(Tok::Ge) => BinOp::Ge,
                _ => return Ok(l),
            };
            self.pos += 1;
            let r = self.add_expr()?;
            self.op()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }
    fn add_expr(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.mul_expr()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Plus) => BinOp::Add,
                Some(Tok::Minus) => BinOp::Sub,
                _ => return Ok(l),
            };
            self.pos += 1;
            let r = self.mul_expr()?;
            self.op()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }
    fn mul_expr(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.unary_expr()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Star) => BinOp::Mul,
                Some(Tok::Name(None, n)) if n == "div" => BinOp::Div,
                Some(Tok::Name(None, n)) if n == "mod" => BinOp::Mod,
                _ => return Ok(l),
            };
            self.pos += 1;
            let r = self.unary_expr()?;
            self.op()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }
    fn unary_expr(&mut self) -> Result<Expr, SyntaxError> {
        if self.eat(&Tok::Minus) {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return err("expression nested too deeply", self.range());
            }
            let e = self.unary_expr();
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(e?)));
        }
        self.union_expr()
    }
    fn union_expr(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.path_expr()?;
        while self.eat(&Tok::Pipe) {
            let r = self.path_expr()?;
            self.op()?;
            l = Expr::Binary(BinOp::Union, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn starts_primary(&self) -> bool {
        match self.peek() {
            Some(Tok::Var(..) | Tok::LParen | Tok::Literal(_) | Tok::Number(..)) => true,
            Some(Tok::Name(_, n)) => {
                self.peek_at(1) == Some(&Tok::LParen)
                    && !(NODE_TYPES.contains(&n.as_str()) && self.name_unprefixed())
            }
            _ => false,
        }
    }
    fn name_unprefixed(&self) -> bool {
        matches!(self.peek(), Some(Tok::Name(None, _)))
    }

    fn path_expr(&mut self) -> Result<Expr, SyntaxError> {
        if self.starts_primary() {
            let prim = self.primary()?;
            let mut predicates = Vec::new();
            while self.peek() == Some(&Tok::LBracket) {
                predicates.push(self.predicate()?);
            }
            let filter = if predicates.is_empty() {
                prim
            } else {
                Expr::Filter {
                    primary: Box::new(prim),
                    predicates,
                }
            };
            let desc = match self.peek() {
                Some(Tok::Slash) => false,
                Some(Tok::SlashSlash) => true,
                _ => return Ok(filter),
            };
            self.pos += 1;
            let steps = self.relative_steps()?;
            return Ok(Expr::Path {
                start: PathStart::From(Box::new(filter), desc),
                steps,
            });
        }
        match self.peek() {
            Some(Tok::Slash) => {
                self.pos += 1;
                let steps = if self.starts_step() {
                    self.relative_steps()?
                } else {
                    Vec::new()
                };
                Ok(Expr::Path {
                    start: PathStart::Root,
                    steps,
                })
            }
            Some(Tok::SlashSlash) => {
                self.pos += 1;
                let steps = self.relative_steps()?;
                Ok(Expr::Path {
                    start: PathStart::RootDescendant,
                    steps,
                })
            }
            _ if self.starts_step() => {
                let steps = self.relative_steps()?;
                Ok(Expr::Path {
                    start: PathStart::Relative,
                    steps,
                })
            }
            Some(_) => err("expected an expression", self.range()),
            None => err("unexpected end of expression", self.range()),
        }
    }

    fn starts_step(&self) -> bool {
        matches!(
            self.peek(),
            Some(Tok::Dot | Tok::DotDot | Tok::At | Tok::Star | Tok::Name(..))
        )
    }

    /// Steps separated by `/` or `//` (a `//` is stored as a `descendant-or-self::node()` step).
    fn relative_steps(&mut self) -> Result<Vec<Step>, SyntaxError> {
        let mut steps = vec![self.step()?];
        loop {
            match self.peek() {
                Some(Tok::Slash) => {
                    self.pos += 1;
                }
                Some(Tok::SlashSlash) => {
                    let r = self.range();
                    self.pos += 1;
                    steps.push(Step {
                        axis: Some("descendant-or-self".into()),
                        test: NodeTest::Type("node".into(), None),
                        predicates: Vec::new(),
                        range: r,
                    });
                }
                _ => return Ok(steps),
            }
            steps.push(self.step()?);
        }
    }

    fn step(&mut self) -> Result<Step, SyntaxError> {
        let start = self.range();
        if self.eat(&Tok::Dot) {
            return Ok(Step {
                axis: None,
                test: NodeTest::SelfAbbrev,
                predicates: Vec::new(),
                range: start,
            });
        }
        if self.eat(&Tok::DotDot) {
            return Ok(Step {
                axis: None,
                test: NodeTest::ParentAbbrev,
                predicates: Vec::new(),
                range: start,
            });
        }
        let mut axis = None;
        if self.eat(&Tok::At) {
            axis = Some("attribute".to_string());
        } else if let (Some(Tok::Name(None, n)), Some(Tok::ColonColon)) =
            (self.peek(), self.peek_at(1))
        {
            if !AXES.contains(&n.as_str()) {
                return err(format!("unknown axis {n:?}"), start);
            }
            axis = Some(n.clone());
            self.pos += 2;
        }
        let r = self.range();
        let test = match self.bump().map(|t| t.tok) {
            Some(Tok::Star) => NodeTest::Name(None, "*".into()),
            Some(Tok::Name(None, n))
                if NODE_TYPES.contains(&n.as_str()) && self.peek() == Some(&Tok::LParen) =>
            {
                self.pos += 1;
                let mut arg = None;
                if n == "processing-instruction" {
                    if let Some(Tok::Literal(l)) = self.peek() {
                        arg = Some(l.clone());
                        self.pos += 1;
                    }
                }
                self.expect(Tok::RParen, "')'")?;
                NodeTest::Type(n, arg)
            }
            Some(Tok::Name(p, n)) => {
                if self.peek() == Some(&Tok::LParen) {
                    return err("a function call cannot be a location step", r);
                }
                NodeTest::Name(p, n)
            }
            _ => return err("expected a node test", r),
        };
        let mut predicates = Vec::new();
        while self.peek() == Some(&Tok::LBracket) {
            predicates.push(self.predicate()?);
        }
        let end = self.toks.get(self.pos.saturating_sub(1)).map(|t| t.range.1);
        Ok(Step {
            axis,
            test,
            predicates,
            range: (start.0, end.unwrap_or(start.1)),
        })
    }

    fn predicate(&mut self) -> Result<Expr, SyntaxError> {
        self.expect(Tok::LBracket, "'['")?;
        let e = self.expr()?;
        self.expect(Tok::RBracket, "']'")?;
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let t = match self.bump() {
            Some(t) => t,
            None => return err("unexpected end of expression", (self.len, self.len)),
        };
        match t.tok {
            Tok::Var(prefix, local) => Ok(Expr::Var {
                prefix,
                local,
                range: t.range,
            }),
            Tok::Literal(s) => Ok(Expr::Literal(s)),
            Tok::Number(v, s) => Ok(Expr::Number(v, s)),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(Tok::RParen, "')'")?;
                Ok(Expr::Group(Box::new(e)))
            }
            Tok::Name(prefix, name) => {
                self.expect(Tok::LParen, "'('")?;
                let mut args = Vec::new();
                if !self.eat(&Tok::RParen) {
                    loop {
                        args.push(self.expr()?);
                        if self.eat(&Tok::Comma) {
                            continue;
                        }
                        self.expect(Tok::RParen, "')' or ','")?;
                        break;
                    }
                }
                let end = self
                    .toks
                    .get(self.pos - 1)
                    .map(|t| t.range.1)
                    .unwrap_or(t.range.1);
                Ok(Expr::Call {
                    prefix,
                    name,
                    args,
                    range: (t.range.0, end),
                })
            }
            _ => err("expected an expression", t.range),
        }
    }
}

// === emit ===

/// Write a literal with a quote character it does not contain.
pub(crate) fn write_literal(out: &mut String, s: &str) {
    if s.contains('\'') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push('\'');
        out.push_str(s);
        out.push('\'');
    }
}

/// How calls and variables are written back (see `compile`).
pub(crate) trait Rewrite {
    /// Write a call or variable reference; return false to write it unchanged.
    fn call(&self, e: &Expr, out: &mut String, emit: &dyn Fn(&Expr, &mut String)) -> bool;
    /// Write a comparison or arithmetic operation; return false to write it unchanged.
    fn binary(
        &self,
        op: BinOp,
        l: &Expr,
        r: &Expr,
        out: &mut String,
        emit: &dyn Fn(&Expr, &mut String),
    ) -> bool;
    fn neg(&self, e: &Expr, out: &mut String, emit: &dyn Fn(&Expr, &mut String)) -> bool;
}

pub(crate) fn emit(e: &Expr, rw: &dyn Rewrite, out: &mut String) {
    let rec = |e: &Expr, o: &mut String| emit(e, rw, o);
    match e {
        Expr::Binary(op, l, r) => {
            if rw.binary(*op, l, r, out, &rec) {
                return;
            }
            out.push('(');
            emit(l, rw, out);
            out.push(' ');
            out.push_str(op.text());
            out.push(' ');
            emit(r, rw, out);
            out.push(')');
        }
        Expr::Neg(x) => {
            if rw.neg(x, out, &rec) {
                return;
            }
            out.push_str("-(");
            emit(x, rw, out);
            out.push(')');
        }
        Expr::Literal(s) => write_literal(out, s),
        Expr::Number(_, s) => out.push_str(s),
        Expr::Var { prefix, local, .. } => {
            if rw.call(e, out, &rec) {
                return;
            }
            out.push('$');
            if let Some(p) = prefix {
                out.push_str(p);
                out.push(':');
            }
            out.push_str(local);
        }
        Expr::Call {
            prefix, name, args, ..
        } => {
            if rw.call(e, out, &rec) {
                return;
            }
            if let Some(p) = prefix {
                out.push_str(p);
                out.push(':');
            }
            out.push_str(name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit(a, rw, out);
            }
            out.push(')');
        }
        Expr::Group(x) => {
            out.push('(');
            emit(x, rw, out);
            out.push(')');
        }
        Expr::Filter {
            primary,
            predicates,
        } => {
            emit(primary, rw, out);
            for p in predicates {
                out.push('[');
                emit(p, rw, out);
                out.push(']');
            }
        }
        Expr::Path { start, steps } => {
            match start {
                PathStart::Root => out.push('/'),
                PathStart::RootDescendant => out.push_str("//"),
                PathStart::Relative => {}
                PathStart::From(f, desc) => {
                    // a filter expression before a path must be primary
                    let needs_group = !matches!(
                        **f,
                        Expr::Call { .. } | Expr::Var { .. } | Expr::Group(_) | Expr::Filter { .. }
                    );
                    if needs_group {
                        out.push('(');
                    }
                    emit(f, rw, out);
                    if needs_group {
                        out.push(')');
                    }
                    out.push_str(if *desc { "//" } else { "/" });
                }
            }
            for (i, s) in steps.iter().enumerate() {
                if i > 0 {
                    out.push('/');
                }
                emit_step(s, rw, out);
            }
        }
    }
}

fn emit_step(s: &Step, rw: &dyn Rewrite, out: &mut String) {
    if let Some(a) = &s.axis {
        let _ = write!(out, "{a}::");
    }
    match &s.test {
        NodeTest::Name(p, l) => {
            if let Some(p) = p {
                out.push_str(p);
                out.push(':');
            }
            out.push_str(l);
        }
        NodeTest::Type(t, arg) => {
            out.push_str(t);
            out.push('(');
            if let Some(a) = arg {
                write_literal(out, a);
            }
            out.push(')');
        }
        NodeTest::SelfAbbrev => out.push('.'),
        NodeTest::ParentAbbrev => out.push_str(".."),
    }
    for p in &s.predicates {
        out.push('[');
        emit(p, rw, out);
        out.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain;
    impl Rewrite for Plain {
        fn call(&self, _: &Expr, _: &mut String, _: &dyn Fn(&Expr, &mut String)) -> bool {
            false
        }
        fn binary(
            &self,
            _: BinOp,
            _: &Expr,
            _: &Expr,
            _: &mut String,
            _: &dyn Fn(&Expr, &mut String),
        ) -> bool {
            false
        }
        fn neg(&self, _: &Expr, _: &mut String, _: &dyn Fn(&Expr, &mut String)) -> bool {
            false
        }
    }

    fn check(input: &str, expect: &str) {
        let got = match parse(input) {
            Ok(e) => {
                let mut s = String::new();
                emit(&e, &Plain, &mut s);
                s
            }
            Err(e) => format!("error {:?}: {}", e.range, e.message),
        };
        assert_eq!(got, expect, "input: {input}");
    }

    #[test]
    fn parse_and_emit() {
        let cases = [
            ("1 + 2 * 3", "(1 + (2 * 3))"),
            ("a or b and c", "(a or (b and c))"),
            ("-1 - -2", "(-(1) - -(2))"),
            ("//a/b[@c='x']", "//a/b[(attribute::c = 'x')]"),
            ("/", "/"),
            ("$body/jsonObject/name", "$body/jsonObject/name"),
            ("$ctx:uri.var.id", "$ctx:uri.var.id"),
            ("fn:concat('a', \"it's\")", "fn:concat('a', \"it's\")"),
            ("get-property('x')-1", "(get-property('x') - 1)"),
            ("a-b", "a-b"),
            ("child::m0:x/text()", "child::m0:x/text()"),
            ("count(//*) div 2 mod 3", "((count(//*) div 2) mod 3)"),
            ("(//a)[1]/b", "(//a)[1]/b"),
            (". = ..", "(. = ..)"),
            ("a|b", "(a | b)"),
            ("p:*", "p:*"),
            ("*", "*"),
            ("div", "div"),
            ("a//b", "a/descendant-or-self::node()/b"),
            (".5 + 5.", "(.5 + 5.)"),
            ("processing-instruction('x')", "processing-instruction('x')"),
            ("x !=y", "(x != y)"),
            ("1 <= 2 >= 3", "((1 <= 2) >= 3)"),
        ];
        for (i, o) in cases {
            check(i, o);
        }
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("", "error (0, 0): empty expression"),
            ("get-property('x'", "error (16, 16): expected ')' or ','"),
            ("'abc", "error (0, 4): unterminated string literal"),
            ("1 +", "error (3, 3): unexpected end of expression"),
            (
                "a ! b",
                "error (2, 3): unexpected '!' (did you mean '!=' or not(...)?)",
            ),
            ("foo::bar", "error (0, 3): unknown axis \"foo\""),
            (
                "a b",
                "error (2, 3): unexpected token after the end of the expression",
            ),
            ("#", "error (0, 1): unexpected character '#'"),
            ("$", "error (1, 2): expected a name"),
            ("[1]", "error (0, 1): expected an expression"),
        ];
        for (i, o) in cases {
            check(i, o);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "(".repeat(10_000) + "1" + &")".repeat(10_000);
        assert!(parse(&deep).is_err());
        let neg = "-".repeat(10_000) + "1";
        assert!(parse(&neg).is_err());
        let chain = vec!["1"; 10_000].join("+");
        assert!(parse(&chain).is_err());
        let ok = vec!["1"; 100].join("+");
        assert!(parse(&ok).is_ok());
    }
}
