//! "Did you mean": the known name closest to a misspelt one.

/// The candidate closest to `word` (ignoring case), when it is close enough to be a likely typo:
/// at most one edit for short names, about one edit per three characters for longer ones
/// (a swap of two neighbours counts as one edit). `None` when nothing is close or `word` is
/// itself a candidate.
pub fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let w = word.to_lowercase();
    if w.is_empty() {
        return None;
    }
    let limit = (w.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'c str)> = None;
    for c in candidates {
        if *c == word {
            return None;
        }
        let d = strsim::damerau_levenshtein(&w, &c.to_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// ` (did you mean `x`?)` for a message, or nothing.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested() {
        let known = ["log", "property", "payloadFactory", "filter", "scope"];
        assert_eq!(closest("logg", &known), Some("log"));
        assert_eq!(closest("lgo", &known), Some("log"));
        assert_eq!(closest("proprety", &known), Some("property"));
        assert_eq!(closest("payloadfactory", &known), Some("payloadFactory"));
        assert_eq!(closest("scop", &known), Some("scope"));
        assert_eq!(closest("frobnicate", &known), None);
        assert_eq!(closest("colour", &known), None);
        assert_eq!(closest("log", &known), None, "an exact name needs no hint");
        assert_eq!(closest("", &known), None);
        assert_eq!(did_you_mean("fitler", &known), "; did you mean `filter`?");
        assert_eq!(did_you_mean("xyz", &known), "");
    }
}
