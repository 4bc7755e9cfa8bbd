package provider

import (
	"fmt"
	"html"
	"html/template"
	"strings"

	qr "github.com/piglig/go-qr"
)

// qrQuietZone is the light margin around a QR code, in modules (ISO/IEC
// 18004 asks for four).
const qrQuietZone = 4

// qrSVG draws text as a QR code (error correction level M), as an inline
// SVG element of the page: one path of unit squares on a white square,
// sized px by px, named label for screen readers. Being part of the page,
// not an image it loads, it needs nothing from the pages'
// Content-Security-Policy (default-src 'none').
func qrSVG(text, label string, px int) (template.HTML, error) {
	code, err := qr.EncodeText(text, qr.Medium)
	if err != nil {
		return "", fmt.Errorf("provider: QR code: %w", err)
	}
	n := code.Size() + 2*qrQuietZone
	var d strings.Builder
	for y := range code.Size() {
		for x := range code.Size() {
			if code.Module(x, y) {
				fmt.Fprintf(&d, "M%d %dh1v1h-1z", x+qrQuietZone, y+qrQuietZone)
			}
		}
	}
	// Every value below is a number the code computed, or label escaped:
	// nothing else of the text reaches the markup.
	return template.HTML(fmt.Sprintf(`<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" shape-rendering="crispEdges">`+
		`<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		n, n, px, px, html.EscapeString(label), n, n, d.String())), nil
}
