//! Parser of Synapse Expressions into an AST (recursive descent; precedence from lowest:
//! `? :`, `or`/`||`, `and`/`&&`, comparisons, `+ -`, `* / %`, unary `-`/`!`, access paths).

use super::lexer::{Tok, Token};
use super::Func;

/// Deepest nesting of parentheses, brackets and calls.
pub const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Null,
    Bool(bool),
    /// A number, typed at load as `Integer.parseInt`, then `Long.parseLong`, then
    /// `Double.parseDouble` would type it.
    Num(super::eval::SynValue),
    Str(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    /// JSONPath filter operators
    In,
    Nin,
    SubsetOf,
    AnyOf,
    NoneOf,
    Size,
    Empty,
}

/// Where a property read goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Header,
    /// `props.synapse.x` / `properties.synapse.x`
    Synapse,
    /// `props.axis2.x`
    Axis2,
    Query,
    /// `params.pathParams.x` (also `uriParams`)
    Path,
    Function,
    Config,
}

/// A JSONPath function at the end of a path (`.length()`, `.min()`…).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathFn {
    Length,
    Min,
    Max,
    Avg,
    Sum,
    Stddev,
    Keys,
    First,
    Last,
}

#[derive(Clone, Debug)]
pub enum Sel {
    /// `['a']`, `['a','b']`
    Keys(Vec<String>),
    /// `[expr]` (a number selects an index, a string a key) or `[e1, e2…]`
    Exprs(Vec<Node>),
    Slice(Option<Box<Node>>, Option<Box<Node>>),
    Wild,
    /// `[?(…)]`
    Filter(Box<Node>),
    /// `[(…)]`: an index computed with `@` bound to the array
    Script(Box<Node>),
}

#[derive(Clone, Debug)]
pub enum Seg {
    Name(String),
    Wild,
    DeepName(String),
    DeepWild,
    /// `..[sel]` (a deep scan applying a selector at every level)
    DeepSel(Sel),
    Sel(Sel),
    Func(PathFn),
}

#[derive(Clone, Debug)]
pub enum Node {
    Lit(Lit),
    Array(Vec<Node>),
    Neg(Box<Node>),
    Not(Box<Node>),
    Bin(Op, Box<Node>, Box<Node>),
    /// `left =~ /regex/` (full match)
    Regex(Box<Node>, Box<regex::Regex>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Payload(Vec<Seg>),
    Var(String, Vec<Seg>),
    /// `@…` inside a filter
    Current(Vec<Seg>),
    Read(Source, String),
    Call(Func, Vec<Node>, Vec<Seg>),
    /// `registry(key).property(name)`
    RegistryProp(Box<Node>, Box<Node>),
    /// `xpath(expr[, variable])`: the compiled XPath when the expression is a literal
    XPath(
        Box<Node>,
        Option<Box<crate::CompiledExpr>>,
        Option<Box<Node>>,
    ),
}

#[derive(Debug)]
pub struct ParseError {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

pub struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    depth: usize,
    /// Inside a `[?(…)]` filter (`@` allowed).
    filter: usize,
    /// XPath compile hook: (literal text, its byte range) → compiled or an error message.
    pub xpath: &'a mut dyn FnMut(&str, usize, usize) -> Result<crate::CompiledExpr, ParseError>,
}

type R<T> = Result<T, ParseError>;

fn is_word(t: &Tok, w: &str) -> bool {
    matches!(t, Tok::Ident(s) if s == w)
}

impl<'a> Parser<'a> {
    pub fn new(
        toks: &'a [Token],
        xpath: &'a mut dyn FnMut(&str, usize, usize) -> Result<crate::CompiledExpr, ParseError>,
    ) -> Self {
        Parser {
            toks,
            pos: 0,
            depth: 0,
            filter: 0,
            xpath,
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }
    fn cur(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }
    fn bump(&mut self) -> Token {
        let t = self.cur().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn err<T>(&self, msg: impl Into<String>) -> R<T> {
        let t = self.cur();
        let message = match &t.tok {
            Tok::Eof => format!("{} (at the end of the expression)", msg.into()),
            _ => msg.into(),
        };
        Err(ParseError {
            message,
            start: t.start,
            end: t.end.max(t.start + 1),
        })
    }
    fn expect(&mut self, t: Tok, what: &str) -> R<Token> {
        if *self.peek() == t {
            Ok(self.bump())
        } else {
            self.err(format!("expected {what}"))
        }
    }
    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("expression nests deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    /// The whole expression (must consume every token).
    pub fn parse_all(&mut self) -> R<Node> {
        if *self.peek() == Tok::Eof {
            return self.err("empty expression");
        }
        let n = self.expr()?;
        if *self.peek() != Tok::Eof {
            return self.err("unexpected input after the expression");
        }
        Ok(n)
    }

    pub fn expr(&mut self) -> R<Node> {
        self.enter()?;
        let c = self.or()?;
        let r = if *self.peek() == Tok::Question {
            self.bump();
            let a = self.expr()?;
            self.expect(Tok::Colon, "`:` of a conditional expression")?;
            let b = self.expr()?;
            Node::Cond(Box::new(c), Box::new(a), Box::new(b))
        } else {
            c
        };
        self.depth -= 1;
        Ok(r)
    }

    fn or(&mut self) -> R<Node> {
        let mut l = self.and()?;
        while matches!(self.peek(), Tok::OrOr) || is_word(self.peek(), "or") {
            self.bump();
            let r = self.and()?;
            l = Node::Bin(Op::Or, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and(&mut self) -> R<Node> {
        let mut l = self.cmp()?;
        while matches!(self.peek(), Tok::AndAnd) || is_word(self.peek(), "and") {
            self.bump();
            let r = self.cmp()?;
            l = Node::Bin(Op::And, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn cmp(&mut self) -> R<Node> {
        let mut l = self.add()?;
        loop {
            let op = match self.peek() {
                Tok::Eq => Op::Eq,
                Tok::Ne => Op::Ne,
                Tok::Lt => Op::Lt,
                Tok::Le => Op::Le,
                Tok::Gt => Op::Gt,
                Tok::Ge => Op::Ge,
                Tok::Match if self.filter > 0 => {
                    self.bump();
                    let t = self.bump();
                    let Tok::Regex(p, flags) = t.tok else {
                        self.pos -= 1;
                        return self.err("expected a /regular expression/ after `=~`");
                    };
                    let pat = if flags.contains('i') {
                        format!("(?i){p}")
                    } else {
                        p
                    };
                    let re = crate::compile_java_regex(&pat).map_err(|e| ParseError {
                        message: format!("invalid regular expression: {e}"),
                        start: t.start,
                        end: t.end,
                    })?;
                    l = Node::Regex(Box::new(l), Box::new(re));
                    continue;
                }
                Tok::Ident(w) if self.filter > 0 => match w.as_str() {
                    "in" => Op::In,
                    "nin" => Op::Nin,
                    "subsetof" => Op::SubsetOf,
                    "anyof" => Op::AnyOf,
                    "noneof" => Op::NoneOf,
                    "size" => Op::Size,
                    "empty" => Op::Empty,
                    _ => break,
                },
                _ => break,
            };
            self.bump();
            if matches!(self.peek(), Tok::Gt | Tok::Lt) && matches!(op, Op::Gt | Op::Lt) {
                return self.err("unknown operator");
            }
            let r = self.add()?;
            l = Node::Bin(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn add(&mut self) -> R<Node> {
        let mut l = self.mul()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => Op::Add,
                Tok::Minus => Op::Sub,
                _ => break,
            };
            self.bump();
            let r = self.mul()?;
            l = Node::Bin(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn mul(&mut self) -> R<Node> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => Op::Mul,
                Tok::Slash => Op::Div,
                Tok::Percent => Op::Mod,
                _ => break,
            };
            self.bump();
            let r = self.unary()?;
            l = Node::Bin(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn unary(&mut self) -> R<Node> {
        match self.peek() {
            Tok::Minus => {
                self.bump();
                if let Tok::Number(n) = self.peek().clone() {
                    self.bump();
                    let v = self.number(&format!("-{n}"))?;
                    return Ok(Node::Lit(Lit::Num(v)));
                }
                self.enter()?;
                let n = self.unary()?;
                self.depth -= 1;
                Ok(Node::Neg(Box::new(n)))
            }
            Tok::Not => {
                self.bump();
                self.enter()?;
                let n = self.unary()?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(n)))
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> R<Node> {
        let t = self.cur().clone();
        match &t.tok {
            Tok::Number(n) => {
                let v = self.number(n)?;
                self.bump();
                Ok(Node::Lit(Lit::Num(v)))
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Node::Lit(Lit::Str(s.clone())))
            }
            Tok::LParen => {
                self.bump();
                let e = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(e)
            }
            Tok::LBracket => {
                self.bump();
                self.enter()?;
                let mut items = Vec::new();
                if *self.peek() != Tok::RBracket {
                    loop {
                        items.push(self.expr()?);
                        if *self.peek() == Tok::Comma {
                            self.bump();
                            continue;
                        }
                        break;
                    }
                }
                self.expect(Tok::RBracket, "`]` closing the array")?;
                self.depth -= 1;
                Ok(Node::Array(items))
            }
            Tok::Dollar => {
                self.bump();
                Ok(Node::Payload(self.path()?))
            }
            Tok::At if self.filter > 0 => {
                self.bump();
                Ok(Node::Current(self.path()?))
            }
            Tok::Ident(w) => self.ident(w.clone()),
            Tok::Eof => self.err("expected a value"),
            _ => self.err("unexpected token"),
        }
    }

    fn number(&self, text: &str) -> R<super::eval::SynValue> {
        super::eval::number_literal(text).or_else(|m| self.err(m))
    }

    fn ident(&mut self, w: String) -> R<Node> {
        match w.as_str() {
            "true" | "false" => {
                self.bump();
                Ok(Node::Lit(Lit::Bool(w == "true")))
            }
            "null" => {
                self.bump();
                Ok(Node::Lit(Lit::Null))
            }
            "payload" => {
                self.bump();
                Ok(Node::Payload(self.path()?))
            }
            "vars" => {
                self.bump();
                let name = self.key_name("a variable name")?;
                Ok(Node::Var(name, self.path()?))
            }
            "headers" => {
                self.bump();
                let name = self.key_name("a header name")?;
                Ok(Node::Read(Source::Header, name))
            }
            "configs" => {
                self.bump();
                let name = self.key_name("a configuration name")?;
                Ok(Node::Read(Source::Config, name))
            }
            "props" | "properties" => {
                self.bump();
                self.expect(Tok::Dot, "`.synapse` or `.axis2`")?;
                let src = match self.peek() {
                    Tok::Ident(s) if s == "synapse" => Source::Synapse,
                    Tok::Ident(s) if s == "axis2" => Source::Axis2,
                    _ => return self.err("expected the scope `synapse` or `axis2`"),
                };
                self.bump();
                let name = self.key_name("a property name")?;
                Ok(Node::Read(src, name))
            }
            "params" => {
                self.bump();
                self.expect(
                    Tok::Dot,
                    "`.queryParams`, `.pathParams` or `.functionParams`",
                )?;
                let src = match self.peek() {
                    Tok::Ident(s) if s == "queryParams" => Source::Query,
                    Tok::Ident(s) if s == "pathParams" || s == "uriParams" => Source::Path,
                    Tok::Ident(s) if s == "functionParams" => Source::Function,
                    _ => {
                        return self.err("expected `queryParams`, `pathParams` or `functionParams`")
                    }
                };
                self.bump();
                let name = self.key_name("a parameter name")?;
                Ok(Node::Read(src, name))
            }
            _ => {
                if *self.peek_at(1) == Tok::LParen {
                    return self.call(w);
                }
                self.err(format!("unknown name `{w}`"))
            }
        }
    }

    /// `.name`, `.["name"]`, `["name"]`, `."name"`
    fn key_name(&mut self, what: &str) -> R<String> {
        let dotted = *self.peek() == Tok::Dot;
        if dotted {
            self.bump();
        }
        match self.peek().clone() {
            Tok::Ident(s) if dotted => {
                self.bump();
                Ok(s)
            }
            Tok::Str(s) if dotted => {
                self.bump();
                Ok(s)
            }
            Tok::LBracket => {
                self.bump();
                let Tok::Str(s) = self.peek().clone() else {
                    return self.err(format!("expected {what} in quotes"));
                };
                self.bump();
                self.expect(Tok::RBracket, "`]`")?;
                Ok(s)
            }
            _ => self.err(format!("expected {what}")),
        }
    }

    fn call(&mut self, name: String) -> R<Node> {
        let name_tok = self.bump();
        let Some(f) = Func::from_name(&name) else {
            return Err(ParseError {
                message: format!("unknown function `{name}`"),
                start: name_tok.start,
                end: name_tok.end,
            });
        };
        self.bump(); // (
        self.enter()?;
        let mut args = Vec::new();
        let mut arg_ranges = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                let s = self.cur().start;
                args.push(self.expr()?);
                let e = self.toks[self.pos.saturating_sub(1)].end;
                arg_ranges.push((s, e));
                if *self.peek() == Tok::Comma {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        let close = self.expect(Tok::RParen, "`)` closing the call")?;
        self.depth -= 1;
        let (min, max) = f.arity();
        if args.len() < min || args.len() > max {
            let want = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(ParseError {
                message: format!(
                    "`{name}` takes {want} argument{}, not {}",
                    if max == 1 { "" } else { "s" },
                    args.len()
                ),
                start: name_tok.start,
                end: close.end,
            });
        }
        if f == Func::XPath {
            let mut it = args.into_iter();
            let first = it.next().expect("arity checked");
            let compiled = match &first {
                Node::Lit(Lit::Str(s)) => {
                    let (s0, e0) = arg_ranges[0];
                    Some(Box::new((self.xpath)(s, s0, e0)?))
                }
                _ => None,
            };
            return Ok(Node::XPath(
                Box::new(first),
                compiled,
                it.next().map(Box::new),
            ));
        }
        if f == Func::Registry
            && *self.peek() == Tok::Dot
            && is_word(self.peek_at(1), "property")
            && *self.peek_at(2) == Tok::LParen
        {
            self.bump();
            self.bump();
            self.bump();
            let p = self.expr()?;
            self.expect(Tok::RParen, "`)`")?;
            let key = args.into_iter().next().expect("arity checked");
            return Ok(Node::RegistryProp(Box::new(key), Box::new(p)));
        }
        let path = if matches!(f, Func::Registry | Func::Object | Func::Array) {
            self.path()?
        } else {
            Vec::new()
        };
        Ok(Node::Call(f, args, path))
    }

    /// JSONPath segments after `payload`, `$`, `vars.x`, `@`.
    fn path(&mut self) -> R<Vec<Seg>> {
        let mut segs = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Dot => {
                    self.bump();
                    match self.peek().clone() {
                        Tok::Ident(n) => {
                            self.bump();
                            if *self.peek() == Tok::LParen {
                                if let Some(f) = path_fn(&n) {
                                    self.bump();
                                    self.expect(Tok::RParen, "`)`")?;
                                    segs.push(Seg::Func(f));
                                    if matches!(self.peek(), Tok::Dot | Tok::DotDot | Tok::LBracket)
                                    {
                                        return self.err("a JSONPath function must end the path");
                                    }
                                    return Ok(segs);
                                }
                                return self.err(format!("unknown JSONPath function `{n}()`"));
                            }
                            segs.push(Seg::Name(n));
                        }
                        Tok::Str(n) => {
                            self.bump();
                            segs.push(Seg::Name(n));
                        }
                        Tok::Star => {
                            self.bump();
                            segs.push(Seg::Wild);
                        }
                        Tok::LBracket => {
                            let s = self.selector()?;
                            segs.push(Seg::Sel(s));
                        }
                        _ => return self.err("expected a name after `.`"),
                    }
                }
                Tok::DotDot => {
                    self.bump();
                    match self.peek().clone() {
                        Tok::Ident(n) => {
                            self.bump();
                            segs.push(Seg::DeepName(n));
                        }
                        Tok::Star => {
                            self.bump();
                            segs.push(Seg::DeepWild);
                        }
                        Tok::LBracket => {
                            let s = self.selector()?;
                            segs.push(Seg::DeepSel(s));
                        }
                        _ => return self.err("expected a name after `..`"),
                    }
                }
                Tok::LBracket => {
                    let s = self.selector()?;
                    segs.push(Seg::Sel(s));
                }
                _ => return Ok(segs),
            }
        }
    }

    /// `[…]`
    fn selector(&mut self) -> R<Sel> {
        self.expect(Tok::LBracket, "`[`")?;
        self.enter()?;
        let sel = match self.peek().clone() {
            Tok::Star if *self.peek_at(1) == Tok::RBracket => {
                self.bump();
                Sel::Wild
            }
            Tok::Question => {
                self.bump();
                self.expect(Tok::LParen, "`(` after `?`")?;
                self.filter += 1;
                let e = self.expr();
                self.filter -= 1;
                let e = e?;
                self.expect(Tok::RParen, "`)` closing the filter")?;
                Sel::Filter(Box::new(e))
            }
            Tok::LParen => {
                self.bump();
                self.filter += 1;
                let e = self.expr();
                self.filter -= 1;
                let e = e?;
                self.expect(Tok::RParen, "`)`")?;
                Sel::Script(Box::new(e))
            }
            Tok::Colon => {
                self.bump();
                let end = if *self.peek() == Tok::RBracket {
                    None
                } else {
                    Some(Box::new(self.expr()?))
                };
                Sel::Slice(None, end)
            }
            _ => {
                let first = self.expr()?;
                if *self.peek() == Tok::Colon {
                    self.bump();
                    let end = if *self.peek() == Tok::RBracket {
                        None
                    } else {
                        Some(Box::new(self.expr()?))
                    };
                    Sel::Slice(Some(Box::new(first)), end)
                } else {
                    let mut items = vec![first];
                    while *self.peek() == Tok::Comma {
                        self.bump();
                        items.push(self.expr()?);
                    }
                    if items.iter().all(|n| matches!(n, Node::Lit(Lit::Str(_)))) {
                        Sel::Keys(
                            items
                                .into_iter()
                                .map(|n| match n {
                                    Node::Lit(Lit::Str(s)) => s,
                                    _ => unreachable!("checked above"),
                                })
                                .collect(),
                        )
                    } else {
                        Sel::Exprs(items)
                    }
                }
            }
        };
        self.expect(Tok::RBracket, "`]`")?;
        self.depth -= 1;
        Ok(sel)
    }
}

fn path_fn(n: &str) -> Option<PathFn> {
    Some(match n {
        "length" | "size" => PathFn::Length,
        "min" => PathFn::Min,
        "max" => PathFn::Max,
        "avg" => PathFn::Avg,
        "sum" => PathFn::Sum,
        "stddev" => PathFn::Stddev,
        "keys" => PathFn::Keys,
        "first" => PathFn::First,
        "last" => PathFn::Last,
        _ => return None,
    })
}
