//! How Jayway JsonPath (the library behind Synapse's `SynapseJsonPath`) reads the text of a
//! path into steps: its `PathCompiler`, rule for rule, so that synaptic takes the paths Synapse
//! takes and reads them the same way.
//!
//! - A path that starts with neither `$` nor `@` is read after `$.` (`a.b` is `$.a.b`, `.a` is
//!   `$..a`, `[0]` is `$.[0]`); `@` at the start reads as `$`.
//! - A dot member is taken up to the next `.`, `[` or `(` whatever its characters (`$.a-b`,
//!   `$.'$'`); a space in it is an error. A member may follow a bracket without a dot
//!   (`$.a[0]b` is `$.a[0].b`); a dot may come before a bracket (`$.a.[0]`).
//! - After a complete step, one last character is never read: `$.a[0])` is `$.a[0]`, and
//!   `$.a[?(@.x)])` is `$.a[?(@.x)]` (Jayway stops when one character is left). The steps say
//!   where that character is, so that a lint can point at it.
//! - Brackets: quoted names (`['a']`, `["a"]`, `['a','b']`, with backslash escapes), indexes
//!   (`[0]`, `[-1]`, `[1, 2]`), slices (`[1:2]`, `[:2]`, `[-1:]`; a step after a second `:`
//!   is ignored), `[*]`, and filters `[?(…)]` (their condition is not read here).
//! - A member followed by `(` is a function (`.length()`, `.sum($.a, 2)`), read as Jayway's
//!   `readPropertyOrFunctionToken` and `parseFunctionParameters` read it: the name must be one
//!   of Jayway's functions (`PathFunctionFactory`), each argument is a path (starting with `$`
//!   or `@`) or JSON (starting with `{`, `"`, a digit or `-`; anything else is skipped, as Jayway
//!   skips it), and nothing but the one last character Jayway leaves unread may follow it.

use std::ops::Range;

/// One step of a path.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `..`: the next step applies at every depth.
    Scan,
    /// `.name`, `['name']`, `['a','b']`.
    Names(Vec<String>),
    /// `[0]`, `[-1]`, `[1,2]`.
    Indexes(Vec<i64>),
    /// `[from:to]`: either may be missing.
    Slice(Option<i64>, Option<i64>),
    /// `.*`, `[*]`.
    Wildcard,
    /// `[?(…)]`: the text between the brackets, as written.
    Filter(String),
    /// `.name(…)`: a function of Jayway's, the last step of its path.
    Function(Function),
}

/// A function call in a path (`.length()`, `.concat("-", $.b)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// One of [`FUNCTIONS`].
    pub name: String,
    /// The arguments, each with the byte range of its text.
    pub args: Vec<(Arg, Range<usize>)>,
}

/// An argument of a function, as Jayway's `parseFunctionParameters` takes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A path, evaluated on the whole document (`$.a`, `@.a`).
    Path(Path),
    /// JSON text, parsed when the function runs (`"x"`, `{"a":1}`, `2`).
    Json(String),
}

/// The functions of Jayway JsonPath 2.x (`PathFunctionFactory`), with the number of arguments
/// each takes (`None`: any number).
pub const FUNCTIONS: &[(&str, Option<(usize, usize)>)] = &[
    ("avg", None),
    ("stddev", None),
    ("sum", None),
    ("min", None),
    ("max", None),
    ("concat", None),
    ("length", Some((0, 1))),
    ("size", Some((0, 1))),
    ("append", None),
    ("keys", Some((0, 0))),
    ("first", Some((0, 0))),
    ("last", Some((0, 0))),
    ("index", Some((1, 1))),
];

/// A path read into steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    /// Each step with the byte range of the text it was read from (empty for the `$.` Jayway
    /// puts before a path without `$`).
    pub steps: Vec<(Step, Range<usize>)>,
    /// The byte offset of the last character, when Jayway leaves it unread.
    pub ignored: Option<usize>,
}

/// A path Jayway refuses: where (a byte offset) and why.
#[derive(Clone, Debug, PartialEq)]
pub struct PathError {
    pub at: usize,
    pub message: String,
}

/// Read `path` (already trimmed) as Jayway's `PathCompiler.compile` does.
pub fn parse(path: &str) -> Result<Path, PathError> {
    let mut cs: Vec<char> = Vec::with_capacity(path.len() + 2);
    let mut off: Vec<usize> = Vec::with_capacity(path.len() + 3);
    if !path.starts_with(['$', '@']) {
        cs.extend(['$', '.']);
        off.extend([0, 0]);
    }
    for (i, c) in path.char_indices() {
        cs.push(c);
        off.push(i);
    }
    off.push(path.len());
    let mut r = Reader {
        cs,
        off,
        pos: 0,
        steps: Vec::new(),
        ignored: None,
        depth: 0,
    };
    r.compile()?;
    Ok(Path {
        steps: r.steps,
        ignored: r.ignored,
    })
}

struct Reader {
    cs: Vec<char>,
    /// Byte offset in the path of each of `cs` (and of its end, last).
    off: Vec<usize>,
    pos: usize,
    steps: Vec<(Step, Range<usize>)>,
    ignored: Option<usize>,
    /// How many function arguments this path is inside.
    depth: usize,
}

/// How deep paths may nest as function arguments (`$.sum($.a.sum($.b…))`).
const MAX_DEPTH: usize = 16;

/// What a token reader did: read its token, or found the text is not its kind.
type Read = Result<bool, PathError>;

impl Reader {
    fn len(&self) -> usize {
        self.cs.len()
    }
    /// Jayway's `endPosition`: the index of the last character.
    fn end(&self) -> usize {
        self.len().saturating_sub(1)
    }
    fn at(&self, i: usize) -> Option<char> {
        self.cs.get(i).copied()
    }
    fn err(&self, i: usize, message: impl Into<String>) -> PathError {
        PathError {
            at: self.off[i.min(self.len())],
            message: message.into(),
        }
    }
    fn push(&mut self, step: Step, from: usize, to: usize) {
        let range = self.off[from.min(self.len())]..self.off[to.min(self.len())];
        self.steps.push((step, range));
    }
    /// The first character after `i` that is not a space (`' '` past the end).
    fn next_significant(&self, i: usize) -> char {
        self.cs[(i + 1).min(self.len())..]
            .iter()
            .copied()
            .find(|c| *c != ' ')
            .unwrap_or(' ')
    }
    /// The index of the first character after `i` that is not a space, when it is `c`.
    fn next_significant_is(&self, i: usize, c: char) -> Option<usize> {
        let j = (i + 1..self.len()).find(|&j| self.cs[j] != ' ')?;
        (self.cs[j] == c).then_some(j)
    }
    fn next_index_of(&self, from: usize, c: char) -> Option<usize> {
        (from..self.len()).find(|&j| self.cs[j] == c)
    }
    fn next_unescaped(&self, from: usize, c: char) -> Option<usize> {
        let mut escaped = false;
        for j in from + 1..self.len() {
            if escaped {
                escaped = false;
            } else if self.cs[j] == '\\' {
                escaped = true;
            } else if self.cs[j] == c {
                return Some(j);
            }
        }
        None
    }
    /// The `)` that closes the `(` at `start`, past quoted strings and `/regex/`s.
    fn closing_paren(&self, start: usize) -> Result<Option<usize>, PathError> {
        let mut open = 1;
        let mut i = start + 1;
        while i < self.len() {
            let c = self.cs[i];
            if c == '\'' || c == '"' || c == '/' {
                i = self.next_unescaped(i, c).ok_or_else(|| {
                    self.err(
                        i,
                        if c == '/' {
                            "a regular expression `/…/` is never closed".to_string()
                        } else {
                            format!("the string started by {c} is never closed")
                        },
                    )
                })? + 1;
                if i >= self.len() {
                    break;
                }
            }
            match self.cs[i] {
                '(' => open += 1,
                ')' => {
                    open -= 1;
                    if open == 0 {
                        return Ok(Some(i));
                    }
                }
                _ => {}
            }
            i += 1;
        }
        Ok(None)
    }

    fn compile(&mut self) -> Result<(), PathError> {
        if self.cs.last() == Some(&'.') {
            return Err(self.err(self.end(), "a path cannot end with `.` or `..`"));
        }
        match self.at(0) {
            Some('$' | '@') => {}
            _ => return Err(self.err(0, "a path starts with `$`")),
        }
        if self.pos >= self.end() {
            return Ok(());
        }
        self.pos = 1;
        match self.at(1) {
            Some('.' | '[') => self.next_token(),
            _ => Err(self.err(1, "`$` is followed by `.` or `[`")),
        }
    }

    /// After a token: done when nothing is left, or when one character is (Jayway never reads
    /// it); else the next token.
    fn then_next(&mut self) -> Result<(), PathError> {
        if self.pos >= self.end() {
            if self.pos == self.end() {
                self.ignored = Some(self.off[self.pos]);
            }
            return Ok(());
        }
        self.next_token()
    }

    fn next_token(&mut self) -> Result<(), PathError> {
        let at = self.pos;
        let read = match self.at(at) {
            Some('[') => {
                self.bracket_names()?
                    || self.indexes()?
                    || self.wildcard()?
                    || self.filter()?
                    || self.placeholder()?
            }
            Some('.') => return self.dot(),
            Some('*') => self.wildcard()?,
            _ => return self.member(),
        };
        if read {
            self.then_next()
        } else {
            Err(self.err(
                at,
                "expected a quoted name, an index, `*` or a filter `?(…)`",
            ))
        }
    }

    fn dot(&mut self) -> Result<(), PathError> {
        if self.at(self.pos + 1) == Some('.') {
            self.push(Step::Scan, self.pos, self.pos + 2);
            self.pos += 2;
        } else if self.pos + 1 >= self.len() {
            return Err(self.err(self.pos, "a path cannot end with `.`"));
        } else {
            self.pos += 1;
        }
        match self.at(self.pos) {
            Some('.') => Err(self.err(self.pos, "`...` is not a step")),
            None => Err(self.err(self.pos, "a path cannot end with `..`")),
            Some(_) => self.next_token(),
        }
    }

    /// `name` or `name(…)`.
    fn member(&mut self) -> Result<(), PathError> {
        let start = self.pos;
        match self.at(start) {
            None | Some('[' | '*' | '.' | ' ') => {
                return Err(self.err(start, "expected a member name"));
            }
            _ => {}
        }
        let mut end = self.len();
        let mut function = false;
        for j in start..self.len() {
            match self.cs[j] {
                ' ' => {
                    return Err(self.err(
                        j,
                        "a member name with a space is written in brackets: `['my name']`",
                    ))
                }
                '.' | '[' => {
                    end = j;
                    break;
                }
                '(' => {
                    end = j;
                    function = true;
                    break;
                }
                _ => {}
            }
        }
        if function {
            return self.function(start, end);
        }
        let name: String = self.cs[start..end].iter().collect();
        self.push(Step::Names(vec![name]), start, end);
        self.pos = end;
        self.then_next()
    }

    /// `name(…)`, `name` starting at `start` and `(` at `paren`.
    fn function(&mut self, start: usize, paren: usize) -> Result<(), PathError> {
        let name: String = self.cs[start..paren].iter().collect();
        // Jayway counts parentheses to the end of the path, strings or not
        let mut open = 1;
        for &c in &self.cs[paren + 1..] {
            match c {
                ')' => open -= 1,
                '(' => open += 1,
                _ => {}
            }
            if open == 0 {
                break;
            }
        }
        if open != 0 {
            return Err(self.err(
                paren,
                format!("the arguments of the function `{name}` are not closed with `)`"),
            ));
        }
        let Some(arity) = FUNCTIONS.iter().find(|f| f.0 == name).map(|f| f.1) else {
            let known: Vec<&str> = FUNCTIONS.iter().map(|f| f.0).collect();
            return Err(self.err(
                start,
                format!(
                    "`{name}` is not a JSONPath function; Jayway's are {}",
                    known.join(", ")
                ),
            ));
        };
        let (args, next) = if self.at(paren + 1) == Some(')') {
            (Vec::new(), paren + 1)
        } else {
            self.pos = paren + 1;
            let args = self.arguments(&name)?;
            (args, self.pos)
        };
        if let Some((min, max)) = arity {
            if args.len() < min || args.len() > max {
                let want = match (min, max) {
                    (0, 0) => "no argument".to_string(),
                    (1, 1) => "one argument".to_string(),
                    (a, b) => format!("{a} to {b} arguments"),
                };
                return Err(self.err(
                    start,
                    format!("the function `{name}` takes {want}, not {}", args.len()),
                ));
            }
        }
        if matches!(name.as_str(), "length" | "size")
            && matches!(args.first(), Some((Arg::Json(_), _)))
        {
            // Jayway reads the path of `length`'s argument, and JSON has none
            return Err(PathError {
                at: args[0].1.start,
                message: format!("the argument of `{name}` is a path (`$.a`, `@.a`), not JSON"),
            });
        }
        let no_args = args.is_empty() && self.at(paren + 1) == Some(')');
        let close = if no_args { next + 1 } else { next };
        self.push(Step::Function(Function { name, args }), start, close);
        // no argument: Jayway stands on the `)`, done when it is the last character; with
        // arguments it stands after the `)`, and leaves one last character unread
        if close >= self.len() {
            self.pos = self.len();
            return Ok(());
        }
        if !no_args && close == self.end() {
            self.ignored = Some(self.off[close]);
            self.pos = self.len();
            return Ok(());
        }
        Err(self.err(
            close,
            "a function ends the path: nothing may follow its `)`",
        ))
    }

    /// Jayway's `parseFunctionParameters`: the arguments after the `(` the reader stands
    /// after, up to its `)`; the reader ends after that `)`.
    fn arguments(&mut self, name: &str) -> Result<Vec<(Arg, Range<usize>)>, PathError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Kind {
            Json,
            Path,
        }
        let mut kind: Option<Kind> = None;
        let (mut paren, mut bracket, mut brace, mut quote) = (1i32, 0i32, 0i32, 0i32);
        let mut prior = '\0';
        let mut args = Vec::new();
        // the characters of the argument being read, with their indexes
        let mut param: Vec<usize> = Vec::new();
        let mut end_of_stream = false;
        while self.pos < self.len() && !end_of_stream {
            let i = self.pos;
            let c = self.cs[i];
            self.pos += 1;
            if kind.is_none() {
                if matches!(c, ' ' | '\t' | '\n' | '\r') {
                    continue;
                }
                if c == '{' || c.is_ascii_digit() || c == '"' || c == '-' {
                    kind = Some(Kind::Json);
                } else if c == '$' || c == '@' {
                    kind = Some(Kind::Path);
                }
            }
            let mut close_arg = false;
            match c {
                '"' => {
                    if prior != '\\' && quote > 0 {
                        quote -= 1;
                    } else {
                        quote += 1;
                    }
                }
                '(' => paren += 1,
                '{' => brace += 1,
                '[' => bracket += 1,
                '}' => {
                    if brace == 0 {
                        return Err(self.err(i, "a `}` that closes nothing"));
                    }
                    brace -= 1;
                }
                ']' => {
                    if bracket == 0 {
                        return Err(self.err(i, "a `]` that closes nothing"));
                    }
                    bracket -= 1;
                }
                ')' => {
                    paren -= 1;
                    if (paren < 0 || prior == '(') && kind.is_some() {
                        param.push(i);
                    }
                    close_arg = true;
                }
                ',' => close_arg = true,
                _ => {}
            }
            if close_arg
                && quote == 0
                && brace == 0
                && bracket == 0
                && ((paren == 0 && c == ')') || paren == 1)
            {
                end_of_stream = paren == 0;
                if let Some(k) = kind.take() {
                    let from = param.first().copied().unwrap_or(i);
                    let to = param.last().map_or(i, |l| l + 1);
                    let range = self.off[from]..self.off[to.min(self.len())];
                    let arg = match k {
                        Kind::Json => Arg::Json(param.iter().map(|&j| self.cs[j]).collect()),
                        Kind::Path => Arg::Path(self.sub_path(&param)?),
                    };
                    args.push((arg, range));
                    param.clear();
                }
            }
            if kind.is_some() && !(c == ',' && brace == 0 && bracket == 0 && paren == 1) {
                param.push(i);
            }
            prior = c;
        }
        if brace != 0 || paren != 0 || bracket != 0 {
            return Err(self.err(
                self.pos.min(self.end()),
                format!("the arguments of the function `{name}` are not closed with `)`"),
            ));
        }
        Ok(args)
    }

    /// A path argument (the characters at `idx`), read as its own path.
    fn sub_path(&self, idx: &[usize]) -> Result<Path, PathError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(
                idx.first().copied().unwrap_or(0),
                format!("function arguments nest deeper than {MAX_DEPTH} paths"),
            ));
        }
        let mut off: Vec<usize> = idx.iter().map(|&j| self.off[j]).collect();
        off.push(idx.last().map_or(0, |&l| self.off[l + 1]));
        let mut r = Reader {
            cs: idx.iter().map(|&j| self.cs[j]).collect(),
            off,
            pos: 0,
            steps: Vec::new(),
            ignored: None,
            depth: self.depth + 1,
        };
        r.compile()?;
        Ok(Path {
            steps: r.steps,
            ignored: r.ignored,
        })
    }

    /// `['a']`, `["a","b"]`.
    fn bracket_names(&mut self) -> Read {
        let q = self.next_significant(self.pos);
        if q != '\'' && q != '"' {
            return Ok(false);
        }
        let open = self.pos;
        let mut names = Vec::new();
        let mut start = open + 1;
        let mut last_quote = 0;
        let (mut inside, mut escaped, mut comma) = (false, false, false);
        let mut j = open + 1;
        while j < self.len() {
            let c = self.cs[j];
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == ']' && !inside {
                if comma {
                    return Err(self.err(j, "an empty name in brackets"));
                }
                break;
            } else if c == q {
                if inside {
                    let n = self.next_significant(j);
                    if n != ']' && n != ',' {
                        return Err(self.err(j + 1, "names in brackets are separated by `,`"));
                    }
                    last_quote = j;
                    let raw: String = self.cs[start..j].iter().collect();
                    names.push(unescape(&raw).map_err(|m| self.err(start, m))?);
                    inside = false;
                } else {
                    start = j + 1;
                    inside = true;
                    comma = false;
                }
            } else if c == ',' && !inside {
                if comma {
                    return Err(self.err(j, "an empty name in brackets"));
                }
                comma = true;
            }
            j += 1;
        }
        if inside {
            return Err(self.err(
                start - 1,
                format!("the string started by {q} is never closed"),
            ));
        }
        let Some(close) = self.next_significant_is(last_quote, ']') else {
            return Err(self.err(open, "`[` is never closed"));
        };
        self.push(Step::Names(names), open, close + 1);
        self.pos = close + 1;
        Ok(true)
    }

    /// `[0]`, `[1, 2]`, `[1:2]`.
    fn indexes(&mut self) -> Read {
        let n = self.next_significant(self.pos);
        if !n.is_ascii_digit() && n != '-' && n != ':' {
            return Ok(false);
        }
        let open = self.pos;
        let Some(close) = self.next_index_of(open + 1, ']') else {
            return Ok(false);
        };
        let text: String = self.cs[open + 1..close].iter().collect();
        let text = text.trim();
        if !text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ',' | '-' | ':' | ' '))
        {
            return Ok(false);
        }
        let int = |t: &str| -> Result<i64, PathError> {
            t.parse::<i32>()
                .map(i64::from)
                .map_err(|_| self.err(open + 1, format!("`{t}` is not an index")))
        };
        let step = if text.contains(':') {
            if text.contains([' ', ',']) {
                return Err(self.err(open + 1, format!("`{text}` is not a slice")));
            }
            let mut parts = text.split(':');
            let from = parts
                .next()
                .filter(|p| !p.is_empty())
                .map(int)
                .transpose()?;
            let to = parts
                .next()
                .filter(|p| !p.is_empty())
                .map(int)
                .transpose()?;
            if from.is_none() && to.is_none() {
                return Err(self.err(open + 1, format!("`{text}` is not a slice")));
            }
            Step::Slice(from, to)
        } else {
            let mut v = Vec::new();
            for t in text.split(',') {
                v.push(int(t.trim())?);
            }
            Step::Indexes(v)
        };
        self.push(step, open, close + 1);
        self.pos = close + 1;
        Ok(true)
    }

    /// `[*]` or `*`.
    fn wildcard(&mut self) -> Read {
        let bracket = self.at(self.pos) == Some('[');
        if bracket && self.next_significant(self.pos) != '*' {
            return Ok(false);
        }
        if !bracket && self.at(self.pos) != Some('*') {
            return Ok(false);
        }
        let start = self.pos;
        if bracket {
            let star = self
                .next_significant_is(self.pos, '*')
                .unwrap_or(self.pos + 1);
            let Some(close) = self.next_significant_is(star, ']') else {
                return Err(self.err(star + 1, "`[*` is closed by `]`"));
            };
            self.pos = close + 1;
        } else {
            self.pos += 1;
        }
        self.push(Step::Wildcard, start, self.pos);
        Ok(true)
    }

    /// `[?(…)]`.
    fn filter(&mut self) -> Read {
        let open = self.pos;
        let Some(q) = self.next_significant_is(open, '?') else {
            return Ok(false);
        };
        let Some(paren) = self.next_significant_is(q, '(') else {
            return Ok(false);
        };
        let Some(close) = self.closing_paren(paren)? else {
            return Ok(false);
        };
        let Some(end) = self.next_significant_is(close, ']') else {
            return Ok(false);
        };
        let text: String = self.cs[open + 1..end].iter().collect();
        self.push(Step::Filter(text), open, end + 1);
        self.pos = end + 1;
        Ok(true)
    }

    /// `[?]`: a filter Jayway takes from its caller, which Synapse never gives.
    fn placeholder(&mut self) -> Read {
        let Some(q) = self.next_significant_is(self.pos, '?') else {
            return Ok(false);
        };
        match self.next_significant(q) {
            ']' | ',' => Err(self.err(
                self.pos,
                "`[?]` takes a filter from the calling program: write the filter `[?(…)]`",
            )),
            _ => Ok(false),
        }
    }
}

/// Jayway's `Utils.unescape`: `\\`, `\'`, `\"`, `\r`, `\f`, `\t`, `\n`, `\b`, `\uXXXX`; any other
/// escaped character stands for itself.
fn unescape(s: &str) -> Result<String, String> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('b') => out.push('\u{8}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let v = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .ok_or_else(|| format!("`\\u{hex}` is not a unicode escape"))?;
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(p: &str) -> Vec<Step> {
        parse(p)
            .unwrap_or_else(|e| panic!("{p}: {e:?}"))
            .steps
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    }
    fn name(n: &str) -> Step {
        Step::Names(vec![n.into()])
    }

    #[test]
    fn paths_without_dollar_are_read_after_dollar_dot() {
        assert_eq!(steps("a.b"), vec![name("a"), name("b")]);
        assert_eq!(steps(".a"), vec![Step::Scan, name("a")]);
        assert_eq!(steps("[0]"), vec![Step::Indexes(vec![0])]);
        assert_eq!(steps("@.a"), vec![name("a")]);
        assert_eq!(steps("$"), vec![]);
        assert_eq!(steps("@"), vec![]);
        // the ranges of a path without `$` are in the text as given
        let p = parse("exchange.spo").unwrap();
        assert_eq!(p.steps[0].1, 0..8);
        assert_eq!(p.steps[1].1, 9..12);
    }

    #[test]
    fn a_member_may_follow_a_bracket_and_a_dot_may_precede_one() {
        assert_eq!(
            steps("exchange.sponsor.spo[0]spo_emad_spo_srs"),
            vec![
                name("exchange"),
                name("sponsor"),
                name("spo"),
                Step::Indexes(vec![0]),
                name("spo_emad_spo_srs")
            ]
        );
        assert_eq!(steps("$.a.[0]"), vec![name("a"), Step::Indexes(vec![0])]);
        assert_eq!(steps("$..[0]"), vec![Step::Scan, Step::Indexes(vec![0])]);
        assert_eq!(steps("$.a-b.'$'"), vec![name("a-b"), name("'$'")]);
    }

    #[test]
    fn one_last_character_after_a_step_is_not_read() {
        let p = parse("$.store.book[?(@.price > 20)])").unwrap();
        assert_eq!(p.ignored, Some(29));
        assert_eq!(
            p.steps.last().map(|s| &s.0),
            Some(&Step::Filter("?(@.price > 20)".into()))
        );
        for (path, at) in [
            ("$.a[0]x", 6),
            ("$.a[0]]", 6),
            ("$.a[", 3),
            ("$.a[*])", 6),
            ("$['a'])", 6),
        ] {
            assert_eq!(parse(path).unwrap().ignored, Some(at), "{path}");
        }
        // two characters are a member; a member takes the character
        assert_eq!(
            steps("$.a[0]xy"),
            vec![name("a"), Step::Indexes(vec![0]), name("xy")]
        );
        assert_eq!(parse("$.a)").unwrap().ignored, None);
        assert_eq!(steps("$.a)"), vec![name("a)")]);
        assert_eq!(parse("$.a[0]").unwrap().ignored, None);
    }

    #[test]
    fn brackets() {
        assert_eq!(
            steps(r#"$['a', 'b']["c"]['it\'s'][ 1, 2 ][-1][1:][:2][0:2:1][ * ].*"#),
            vec![
                Step::Names(vec!["a".into(), "b".into()]),
                Step::Names(vec!["c".into()]),
                Step::Names(vec!["it's".into()]),
                Step::Indexes(vec![1, 2]),
                Step::Indexes(vec![-1]),
                Step::Slice(Some(1), None),
                Step::Slice(None, Some(2)),
                Step::Slice(Some(0), Some(2)),
                Step::Wildcard,
                Step::Wildcard,
            ]
        );
        assert_eq!(
            steps("$.a[?(@.b == ')' && @.c =~ /x)/)].d"),
            vec![
                name("a"),
                Step::Filter("?(@.b == ')' && @.c =~ /x)/)".into()),
                name("d")
            ]
        );
        assert_eq!(
            steps("$.a.length()"),
            vec![
                name("a"),
                Step::Function(Function {
                    name: "length".into(),
                    args: vec![]
                })
            ]
        );
    }

    #[test]
    fn function_arguments_as_parse_function_parameters_reads_them() {
        let f = |p: &str| match steps(p).pop() {
            Some(Step::Function(f)) => f,
            other => panic!("{p}: {other:?}"),
        };
        let args = |p: &str| -> Vec<String> {
            f(p).args
                .into_iter()
                .map(|(a, _)| match a {
                    Arg::Json(t) => format!("json {t}"),
                    Arg::Path(p) => format!("path {}", p.steps.len()),
                })
                .collect()
        };
        assert_eq!(f("$.a.sum()").args, vec![]);
        assert_eq!(
            args(r#"$.concat( "a,b" , $.x.y, {"k": [1, 2]}, -2)"#),
            // Jayway drops a comma between quotes too
            [
                r#"json "ab" "#,
                "path 2",
                r#"json {"k": [1, 2]}"#,
                "json -2"
            ]
        );
        // nested functions and filters in a path argument
        assert_eq!(
            args("$.sum($.a.avg(), $.b[?(@.c > 1)].d)"),
            ["path 2", "path 3"]
        );
        // what starts neither a path nor JSON is skipped, as Jayway skips it
        assert_eq!(args("$.concat('x', true)"), Vec::<String>::new());
        assert_eq!(args("$.index([1])"), ["json 1]"]);
        // the range of an argument is where it is written
        let p = parse("$.a.sum($.b, 2)").unwrap();
        let Some((Step::Function(func), range)) = p.steps.last() else {
            panic!()
        };
        assert_eq!(range, &(4..15));
        assert_eq!(func.args[0].1, 8..11);
        assert_eq!(func.args[1].1, 13..14);
        // `size` is `length`; the name is checked, and so is the number of arguments
        assert_eq!(f("$.size()").name, "size");
        for bad in [
            "$.a.count()",
            "$.a.first(1)",
            "$.a.index()",
            "$.a.length().b",
            "$.a.length())",
            "$.a.sum($.b",
            "$.a.sum($.b c)",
            "$.a.sum({1)",
            "$.a.sum(1])",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        // after arguments, one last character is not read
        assert_eq!(parse("$.a.sum($.b))").unwrap().ignored, Some(12));
        // Jayway ends an argument at the first `)` back at its level, so a function with
        // arguments inside another's arguments is cut short (a no-argument one is read)
        let deep = format!("{}$.a{}", "$.sum(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).is_err());
        assert!(parse("$.sum($.sum($.a))").is_err());
        assert!(parse("$.sum($.a.avg(), $.b.sum())").is_ok());
    }

    #[test]
    fn what_jayway_refuses() {
        for bad in [
            "$.",
            "$.a.",
            "$x",
            "$.a b",
            "$['a' 'b']",
            "$['a",
            "$['a'",
            "$[]",
            "$[?]",
            "$.a[1-]",
            "$.a[?(@.x]",
            "$...a",
            "$['a',,'b']",
            "$['a',]",
            "$[*",
            r#"$['a', "b"]"#,
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        let e = parse("$.a b").unwrap_err();
        assert_eq!(e.at, 3);
        assert!(e.message.contains("['my name']"), "{}", e.message);
    }

    #[test]
    fn never_panics_on_pieces_of_odd_input() {
        let inputs = [
            r#"$['é\'ü', "x"][?(@.a == 'ö)' && @.b =~ /ß/)][-1:][ * ]..*.f(1, {"a": [2]})"#,
            "store.book[0]spo[?(@.x)]]",
            "@..['a'][1,2]x",
            r"$['\u00e9\u0']",
        ];
        for input in inputs {
            for (i, _) in input.char_indices() {
                let _ = parse(&input[..i]);
                let _ = parse(&input[i..]);
            }
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r"a\nb\u0041\q").unwrap(), "a\nbAq");
        assert!(unescape(r"\u00zz").is_err());
    }
}
