//! The message browser's filter: a small expression language over a
//! record's key, value, headers, offset, timestamp and partition (syntax
//! in docs/console.md, CEL-like so Kafbat users feel at home). It is only
//! parsed and evaluated: no loops, no calls beyond the few built-ins, no
//! state; regexes are compiled once at parse time by the `regex` crate
//! (linear time); the text and the nesting are bounded, so neither parsing
//! nor evaluating one record can run away.

use regex::Regex;
use serde_json::Value as Json;

/// The longest filter accepted.
pub const MAX_LEN: usize = 2000;
/// The deepest nesting accepted (the parser and evaluator recurse).
const MAX_DEPTH: usize = 64;

/// What a filter sees of one record.
pub struct Subject<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(String, Option<&'a [u8]>)],
    pub offset: i64,
    pub timestamp: i64,
    pub partition: i32,
}

#[derive(Debug)]
pub struct Filter(Expr);

#[derive(Debug)]
enum Expr {
    Lit(Val),
    Field(Field),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    /// `x.name` (a JSON member).
    Member(Box<Expr>, String),
    /// `x[i]`: a header by name, a JSON member or element.
    Index(Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
    Matches(Box<Expr>, Regex),
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Key,
    Value,
    Headers,
    Offset,
    Timestamp,
    Partition,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy)]
enum Func {
    Contains,
    StartsWith,
    EndsWith,
    Size,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Json(Json),
    Headers,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        if text.len() > MAX_LEN {
            return Err(format!("the filter is longer than {MAX_LEN} characters"));
        }
        let tokens = lex(text)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            depth: 0,
            links: 0,
        };
        let expr = parser.expr()?;
        if let Some(tok) = parser.tokens.get(parser.pos) {
            return Err(format!("unexpected {} at the end", tok.describe()));
        }
        Ok(Filter(expr))
    }

    /// Whether the record matches: the expression is `true` (anything
    /// else, such as comparing text with a number, is no match).
    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        eval(&self.0, subject) == Val::Bool(true)
    }
}

// ---- lexer -----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Num(n) => format!("{n}"),
            Tok::Op(o) => format!("'{o}'"),
        }
    }
}

const OPS: [&str; 16] = [
    "&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "[", "]", ".", ",", "-",
];

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err("unterminated string".to_string());
                };
                i += 1;
                if d == c {
                    break;
                }
                if d == '\\' {
                    let Some(&e) = chars.get(i) else {
                        return Err("unterminated string".to_string());
                    };
                    i += 1;
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                } else {
                    s.push(d);
                }
            }
            tokens.push(Tok::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            let n = s.parse().map_err(|_| format!("bad number '{s}'"))?;
            tokens.push(Tok::Num(n));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| format!("unexpected character '{c}'"))?;
            tokens.push(Tok::Op(op));
            i += op.chars().count();
        }
    }
    Ok(tokens)
}

// ---- parser ------------------------------------------------------------------

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
    depth: usize,
    /// Operators chained without nesting (`a && b && ...`, `x.a.b...`):
    /// they nest in the tree all the same, which evaluation recurses into.
    links: usize,
}

/// The most chained operators accepted.
const MAX_LINKS: usize = 256;

impl Parser {
    fn link(&mut self) -> Result<(), String> {
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(format!("the filter has more than {MAX_LINKS} operators"));
        }
        Ok(())
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(match self.peek() {
                Some(t) => format!("expected '{op}', found {}", t.describe()),
                None => format!("expected '{op}' at the end"),
            })
        }
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Parser) -> Result<T, String>) -> Result<T, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("the filter nests deeper than {MAX_DEPTH}"));
        }
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.nested(|p| {
            let mut left = p.and()?;
            while p.eat("||") {
                p.link()?;
                left = Expr::Or(Box::new(left), Box::new(p.and()?));
            }
            Ok(left)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            self.link()?;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return self.nested(|p| Ok(Expr::Not(Box::new(p.unary()?))));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.postfix()?;
        let op = match self.peek() {
            Some(Tok::Op("==")) => Cmp::Eq,
            Some(Tok::Op("!=")) => Cmp::Ne,
            Some(Tok::Op("<")) => Cmp::Lt,
            Some(Tok::Op("<=")) => Cmp::Le,
            Some(Tok::Op(">")) => Cmp::Gt,
            Some(Tok::Op(">=")) => Cmp::Ge,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.postfix()?;
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut expr = self.primary()?;
        loop {
            if matches!(self.peek(), Some(Tok::Op("." | "["))) {
                self.link()?;
            }
            if self.eat(".") {
                let Some(Tok::Ident(name)) = self.peek().cloned() else {
                    return Err("expected a name after '.'".to_string());
                };
                self.pos += 1;
                if self.eat("(") {
                    let args = self.args()?;
                    expr = method(expr, &name, args)?;
                } else {
                    expr = Expr::Member(Box::new(expr), name);
                }
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                expr = Expr::Index(Box::new(expr), Box::new(index));
            } else {
                return Ok(expr);
            }
        }
    }

    /// Arguments after `(`, through `)`.
    fn args(&mut self) -> Result<Vec<Expr>, String> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(tok) = self.peek().cloned() else {
            return Err("the filter ends too soon".to_string());
        };
        self.pos += 1;
        match tok {
            Tok::Str(s) => Ok(Expr::Lit(Val::Str(s))),
            Tok::Num(n) => Ok(Expr::Lit(Val::Num(n))),
            Tok::Op("-") => match self.peek().cloned() {
                Some(Tok::Num(n)) => {
                    self.pos += 1;
                    Ok(Expr::Lit(Val::Num(-n)))
                }
                _ => Err("'-' must precede a number".to_string()),
            },
            Tok::Op("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Ident(name) => {
                if self.eat("(") {
                    let args = self.args()?;
                    let func = match name.as_str() {
                        "size" => Func::Size,
                        "json" => Func::Json,
                        _ => return Err(format!("unknown function '{name}'")),
                    };
                    if args.len() != 1 {
                        return Err(format!("{name}() takes one argument"));
                    }
                    return Ok(Expr::Call(func, args));
                }
                Ok(match name.as_str() {
                    "key" => Expr::Field(Field::Key),
                    "value" => Expr::Field(Field::Value),
                    "headers" => Expr::Field(Field::Headers),
                    "offset" => Expr::Field(Field::Offset),
                    "timestamp" => Expr::Field(Field::Timestamp),
                    "partition" => Expr::Field(Field::Partition),
                    "true" => Expr::Lit(Val::Bool(true)),
                    "false" => Expr::Lit(Val::Bool(false)),
                    "null" => Expr::Lit(Val::Null),
                    _ => return Err(format!("unknown name '{name}'")),
                })
            }
            other => Err(format!("unexpected {}", other.describe())),
        }
    }
}

fn method(target: Expr, name: &str, mut args: Vec<Expr>) -> Result<Expr, String> {
    if args.len() != 1 {
        return Err(format!("{name}() takes one argument"));
    }
    let func = match name {
        "contains" => Func::Contains,
        "startsWith" => Func::StartsWith,
        "endsWith" => Func::EndsWith,
        "matches" => {
            let Some(Expr::Lit(Val::Str(pattern))) = args.pop() else {
                return Err("matches() takes a string literal".to_string());
            };
            let regex = regex::RegexBuilder::new(&pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("bad regex: {e}"))?;
            return Ok(Expr::Matches(Box::new(target), regex));
        }
        _ => return Err(format!("unknown method '{name}'")),
    };
    args.insert(0, target);
    Ok(Expr::Call(func, args))
}

// ---- evaluation ------------------------------------------------------------------

fn text(bytes: Option<&[u8]>) -> Val {
    match bytes {
        Some(b) => Val::Str(String::from_utf8_lossy(b).into_owned()),
        None => Val::Null,
    }
}

/// JSON scalars as plain values, so `json(value).n > 3` compares numbers.
fn from_json(j: Json) -> Val {
    match j {
        Json::Null => Val::Null,
        Json::Bool(b) => Val::Bool(b),
        Json::Number(n) => n.as_f64().map_or(Val::Null, Val::Num),
        Json::String(s) => Val::Str(s),
        other => Val::Json(other),
    }
}

fn eval(expr: &Expr, s: &Subject<'_>) -> Val {
    match expr {
        Expr::Lit(v) => v.clone(),
        Expr::Field(f) => match f {
            Field::Key => text(s.key),
            Field::Value => text(s.value),
            Field::Headers => Val::Headers,
            Field::Offset => Val::Num(s.offset as f64),
            Field::Timestamp => Val::Num(s.timestamp as f64),
            Field::Partition => Val::Num(f64::from(s.partition)),
        },
        Expr::Not(e) => match eval(e, s) {
            Val::Bool(b) => Val::Bool(!b),
            _ => Val::Null,
        },
        Expr::And(a, b) => {
            Val::Bool(eval(a, s) == Val::Bool(true) && eval(b, s) == Val::Bool(true))
        }
        Expr::Or(a, b) => Val::Bool(eval(a, s) == Val::Bool(true) || eval(b, s) == Val::Bool(true)),
        Expr::Cmp(op, a, b) => Val::Bool(compare(*op, &eval(a, s), &eval(b, s))),
        Expr::Member(e, name) => match eval(e, s) {
            Val::Json(Json::Object(mut map)) => map.remove(name).map_or(Val::Null, from_json),
            _ => Val::Null,
        },
        Expr::Index(e, i) => match (eval(e, s), eval(i, s)) {
            (Val::Headers, Val::Str(name)) => s
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(Val::Null, |(_, v)| text(*v)),
            (Val::Json(Json::Object(mut map)), Val::Str(name)) => {
                map.remove(&name).map_or(Val::Null, from_json)
            }
            (Val::Json(Json::Array(mut items)), Val::Num(n)) if n >= 0.0 && n.fract() == 0.0 => {
                let n = n as usize;
                if n < items.len() {
                    from_json(items.swap_remove(n))
                } else {
                    Val::Null
                }
            }
            _ => Val::Null,
        },
        Expr::Call(func, args) => {
            let vals: Vec<Val> = args.iter().map(|a| eval(a, s)).collect();
            match (func, vals.as_slice()) {
                (Func::Contains, [Val::Str(a), Val::Str(b)]) => Val::Bool(a.contains(b.as_str())),
                (Func::StartsWith, [Val::Str(a), Val::Str(b)]) => {
                    Val::Bool(a.starts_with(b.as_str()))
                }
                (Func::EndsWith, [Val::Str(a), Val::Str(b)]) => Val::Bool(a.ends_with(b.as_str())),
                (Func::Size, [Val::Str(a)]) => Val::Num(a.len() as f64),
                (Func::Size, [Val::Json(Json::Array(a))]) => Val::Num(a.len() as f64),
                (Func::Size, [Val::Json(Json::Object(a))]) => Val::Num(a.len() as f64),
                (Func::Json, [Val::Str(a)]) => {
                    serde_json::from_str::<Json>(a).map_or(Val::Null, from_json)
                }
                _ => Val::Null,
            }
        }
        Expr::Matches(e, regex) => match eval(e, s) {
            Val::Str(a) => Val::Bool(regex.is_match(&a)),
            _ => Val::Null,
        },
    }
}

fn compare(op: Cmp, a: &Val, b: &Val) -> bool {
    use std::cmp::Ordering;
    let ordering = match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Null, Val::Null) => Some(Ordering::Equal),
        (Val::Json(x), Val::Json(y)) => (x == y).then_some(Ordering::Equal),
        _ => None,
    };
    match op {
        Cmp::Eq => ordering == Some(Ordering::Equal),
        Cmp::Ne => ordering != Some(Ordering::Equal),
        Cmp::Lt => ordering == Some(Ordering::Less),
        Cmp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        Cmp::Gt => ordering == Some(Ordering::Greater),
        Cmp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(filter: &str, key: &str, value: &str) -> bool {
        let headers = vec![("trace".to_string(), Some(&b"abc"[..]))];
        let subject = Subject {
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
            headers: &headers,
            offset: 7,
            timestamp: 1000,
            partition: 2,
        };
        Filter::parse(filter).unwrap().matches(&subject)
    }

    #[test]
    fn fields_and_operators() {
        assert!(check(r#"key == "k1""#, "k1", "v"));
        assert!(!check(r#"key == "k2""#, "k1", "v"));
        assert!(check(
            r#"value.contains("err") && partition == 2"#,
            "k",
            "an error"
        ));
        assert!(check(r#"offset >= 7 && timestamp < 2000"#, "k", "v"));
        assert!(check(r#"!(offset > 7) || false"#, "k", "v"));
        assert!(check(r#"headers["trace"] == "abc""#, "k", "v"));
        assert!(check(r#"headers["missing"] == null"#, "k", "v"));
        assert!(check(
            r#"value.startsWith('a') && value.endsWith("z")"#,
            "k",
            "a..z"
        ));
        assert!(check(r#"value.matches("^o[a-z]+r$")"#, "k", "order"));
        assert!(check(r#"size(key) == 2"#, "k1", "v"));
        assert!(check(r#"offset != -1"#, "k", "v"));
    }

    #[test]
    fn json_paths() {
        let v = r#"{"amount": 150, "user": {"name": "ann"}, "tags": ["x", "y"]}"#;
        assert!(check("json(value).amount > 100", "k", v));
        assert!(check(r#"json(value).user.name == "ann""#, "k", v));
        assert!(check(r#"json(value)["tags"][1] == "y""#, "k", v));
        assert!(check("json(value).missing == null", "k", v));
        assert!(!check("json(value).amount > 100", "k", "not json"));
    }

    #[test]
    fn mismatched_types_do_not_match() {
        assert!(!check(r#"key > 3"#, "k", "v"));
        assert!(!check(r#"key"#, "k", "v"));
    }

    #[test]
    fn bad_filters_are_refused_with_a_reason() {
        for (bad, why) in [
            ("key ==", "ends too soon"),
            ("key = 'a'", "unexpected character '='"),
            ("system('rm')", "unknown function"),
            ("value.exec('x')", "unknown method"),
            ("\"open", "unterminated"),
            ("value.matches('(')", "bad regex"),
            ("value.matches(key)", "string literal"),
            ("key == 'a' )", "unexpected ')'"),
            ("foo", "unknown name"),
        ] {
            let err = Filter::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let deep = format!("{}key{}", "(".repeat(200), ")".repeat(200));
        assert!(Filter::parse(&deep).unwrap_err().contains("nests deeper"));
        let chain = vec!["1"; 300].join(" && ");
        assert!(Filter::parse(&chain).unwrap_err().contains("more than"));
        let deep_not = format!("{}true", "!".repeat(200));
        assert!(Filter::parse(&deep_not)
            .unwrap_err()
            .contains("nests deeper"));
        assert!(Filter::parse(&"a".repeat(MAX_LEN + 1)).is_err());
    }
}
