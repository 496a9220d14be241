package ui

// Formatting as the pages show figures, for the tests to compare with.
var (
	FormatUSD    = formatUSD
	FormatInt    = formatInt
	FormatTokens = formatTokens
)
