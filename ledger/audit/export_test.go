package audit

// PageTiles exposes pageTiles to the benchmarks' read baseline.
var PageTiles = pageTiles
