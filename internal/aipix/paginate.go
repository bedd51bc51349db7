package aipix

import (
	"net/http"
	"strconv"
	"strings"
)

// onEachSide is how many pages Laravel's paginator shows on each side of
// the current one in meta.links (its default).
const onEachSide = 3

// The labels of the previous and next entries of meta.links. AIPIX answers
// Laravel's translation keys untranslated, and clients may match on them.
const (
	labelPrevious = "pagination.previous"
	labelNext     = "pagination.next"
	labelDots     = "..."
)

// pager builds the absolute URLs of the pages of one listing, as Laravel's
// LengthAwarePaginator::url does: the request's URL without its query, then
// the appended parameters (per_page, when the client chose one) and page.
type pager struct {
	path          string // scheme, host and path, no query: meta.path
	perPage       int
	appendPerPage bool
}

// newPager returns the pager of r. The scheme is https when the connection
// is TLS or a proxy says so in X-Forwarded-Proto; the host is the request's
// Host.
func newPager(r *http.Request, p pageParams) pager {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); strings.EqualFold(strings.TrimSpace(proto), "https") {
		scheme = "https"
	}
	return pager{
		path:          scheme + "://" + r.Host + r.URL.EscapedPath(),
		perPage:       p.perPage,
		appendPerPage: p.appendPerPage,
	}
}

// url is the URL of a page.
func (pg pager) url(page int64) string {
	var b strings.Builder
	b.WriteString(pg.path)
	b.WriteByte('?')
	if pg.appendPerPage {
		b.WriteString("per_page=")
		b.WriteString(strconv.Itoa(pg.perPage))
		b.WriteByte('&')
	}
	b.WriteString("page=")
	b.WriteString(strconv.FormatInt(page, 10))
	return b.String()
}

// urlPtr is url for a field that may be null.
func (pg pager) urlPtr(page int64) *string {
	u := pg.url(page)
	return &u
}

// window returns the pages meta.links lists between its previous and next
// entries, with 0 for each "..." between two runs of pages, exactly as Laravel's UrlWindow (since
// Laravel 8) chooses them with onEachSide 3:
//
//   - fewer than 14 pages: every page;
//   - current page within the first 7: pages 1–10, ..., the last two;
//   - current page within the last 7 (or past the end): pages 1–2, ...,
//     the last ten;
//   - otherwise: pages 1–2, ..., current ±3, ..., the last two.
func window(current, last int64) []int64 {
	span := func(from, to int64) []int64 {
		out := make([]int64, 0, to-from+1)
		for p := from; p <= to; p++ {
			out = append(out, p)
		}
		return out
	}
	if last < onEachSide*2+8 {
		return span(1, last)
	}
	w := int64(onEachSide + 4)
	var out []int64
	switch {
	case current <= w:
		out = append(span(1, w+onEachSide), 0)
		out = append(out, span(last-1, last)...)
	case current > last-w:
		out = append(span(1, 2), 0)
		out = append(out, span(last-(w+onEachSide-1), last)...)
	default:
		out = append(span(1, 2), 0)
		out = append(out, span(current-onEachSide, current+onEachSide)...)
		out = append(out, 0)
		out = append(out, span(last-1, last)...)
	}
	return out
}

// pageLinks is meta.links: the previous entry, the window, the next entry.
func (pg pager) pageLinks(current, last int64) []pageLink {
	win := window(current, last)
	links := make([]pageLink, 0, len(win)+2)
	links = append(links, pageLink{URL: pg.prev(current), Label: labelPrevious})
	for _, p := range win {
		if p == 0 {
			links = append(links, pageLink{Label: labelDots})
			continue
		}
		links = append(links, pageLink{URL: pg.urlPtr(p), Label: strconv.FormatInt(p, 10), Active: p == current})
	}
	return append(links, pageLink{URL: pg.next(current, last), Label: labelNext})
}

// prev is the previous page's URL, null on the first page. As in Laravel,
// a page past the end has a previous page (the one before it).
func (pg pager) prev(current int64) *string {
	if current <= 1 {
		return nil
	}
	return pg.urlPtr(current - 1)
}

// next is the next page's URL, null on the last page and past it.
func (pg pager) next(current, last int64) *string {
	if current >= last {
		return nil
	}
	return pg.urlPtr(current + 1)
}
