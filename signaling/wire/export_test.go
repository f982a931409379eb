package wire

// TypeConstants exposes typeConstants to the external tests.
var TypeConstants = typeConstants
