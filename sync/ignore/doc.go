// Package ignore decides which paths of a synced folder are left out of
// syncing, from the folder's ignore files.
//
// # Files
//
// Two files at the folder root hold the rules:
//
//   - .shoalignore (File) is shared: it is synced like any other file, so
//     all devices apply the same rules.
//   - .shoalignore.local (LocalFile) is per device and never synced. Its
//     rules are taken as if appended to the end of .shoalignore, so they
//     come last and override the shared ones.
//
// Only these two files at the root are read. Ignore files in
// subdirectories are not supported: a .shoalignore below the root is an
// ordinary file with no special meaning.
//
// # Syntax and meaning
//
// Both files use git's gitignore syntax with exactly the meaning git gives a
// single .gitignore at the top of a work tree (git 2.39, core.ignorecase
// false). The matcher is tested against "git check-ignore" on random trees
// and patterns. In short:
//
//   - Lines end at LF; a CR before the LF is dropped, and a UTF-8 byte order
//     mark at the start of a file is skipped. A line ends at a NUL byte.
//   - Blank lines match nothing. A line starting with '#' is a comment;
//     "\#" starts a pattern with a literal '#'.
//   - Trailing spaces are dropped unless escaped with a backslash ("a\ ").
//     Leading spaces and trailing tabs are part of the pattern.
//   - A leading '!' negates the pattern: a matching path is re-included.
//     "\!" starts a pattern with a literal '!'.
//   - A trailing '/' makes the pattern match directories only; the slash is
//     then not part of the pattern.
//   - A pattern with no other slash is matched against the last element
//     of the path, at any depth ("*.log", "build"). A pattern with a slash
//     at the start or in the middle is matched against the whole path from
//     the folder root ("/build", "docs/*.tmp"); a leading slash only
//     anchors.
//   - '*' matches any run of characters except '/', '?' any one character
//     except '/', and "[...]" one character from a class: ranges ("a-z"),
//     negation with '!' or '^' ("[!a]"), escapes ("[\]]") and POSIX classes
//     ("[[:digit:]]", ASCII only). A backslash makes the next character
//     literal. Matching is case sensitive.
//   - "**" has a special meaning next to slashes: a leading "**/" matches
//     in all directories ("**/foo" is foo anywhere), a trailing "/**"
//     matches everything inside ("build/**"), and "/**/" in the middle
//     matches zero or more directories ("a/**/b" matches a/b and a/x/y/b).
//     Other runs of stars act as a single '*'.
//   - The last matching pattern decides; a later line overrides an earlier
//     one, and every line of .shoalignore.local overrides .shoalignore.
//
// The parent-directory rule is git's: a path is ignored if any directory
// above it is ignored, whatever the patterns say about the path itself. "It
// is not possible to re-include a file if a parent directory of that file is
// excluded": with "build/" and "!build/keep", build/keep stays ignored,
// while "build/*" with "!build/keep" re-includes it, since build itself is
// not ignored then. Matcher.Match applies the rule itself, so callers can
// ask about any path directly, and Matcher.MatchDir lets a walk skip whole
// ignored subtrees.
//
// The ignore files are ordinary paths to the matcher: a pattern such as
// ".*" or "*" matches .shoalignore itself, as it would match .gitignore in
// git. Whether File may be ignored that way is the caller's decision.
//
// # Performance
//
// Rules that compare a name or a path with a literal, or a name's extension
// ("*.log"), are found through maps; the remaining patterns are tested last
// to first, after cheap prefix, suffix and substring checks. The answer for
// each directory is cached (per Matcher, in a small fixed-size table), so
// asking about all files of a directory decides the directory's ancestors
// only once. Matching is on bytes; no regular expressions are used.
//
// # Deviations from git
//
// There are none for the root-file case. Patterns that git accepts but that
// can never match anything (an unterminated "[" class, an unknown
// "[:name:]", a trailing lone backslash, a pattern that is empty after '!'
// or '/') are skipped, which changes no result, and are listed by
// Matcher.Problems. Everything else is byte-for-byte git's behaviour,
// including odd corners such as "a**/b" matching "ab" (git matches the
// literal prefix "a" separately, and the rest then starts with "**/").
//
// Git can take time exponential in the number of "**" on pathological
// patterns. This matcher then switches to a memoized match with the same
// result, whose cost is at most proportional to (pattern length) × (path
// length); only past 4 Mi memo entries (thousands of stars against
// thousands of path bytes) does it fall back to the plain recursion.
package ignore
