package sqlite

// Grow is grow for the external test package's benchmarks.
var Grow = grow
