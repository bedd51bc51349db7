package doorlog

import "time"

// CategoryCounts is a number of events per category: the unit of a chart of
// what kind of traffic a site has, which shows the four categories side by
// side rather than one total.
type CategoryCounts struct {
	Access, Emergency, System, Info int64
}

// Add adds n events of category c. Any other category is ignored: the store
// keeps none.
func (c *CategoryCounts) Add(cat Category, n int64) {
	switch cat {
	case CategoryAccess:
		c.Access += n
	case CategoryEmergency:
		c.Emergency += n
	case CategorySystem:
		c.System += n
	case CategoryInfo:
		c.Info += n
	}
}

// Total is the number of events of every category.
func (c CategoryCounts) Total() int64 {
	return c.Access + c.Emergency + c.System + c.Info
}

// HourCount is the number of events of one UTC hour by category, one point
// of an events-per-hour chart.
type HourCount struct {
	// Hour is the first instant of the hour, in UTC.
	Hour time.Time
	CategoryCounts
}

// MaxCountHours is the most hours Store.CountByHour answers for, so that one
// call cannot ask for an answer of unbounded size: a leap year of hours,
// far more than any chart draws.
const MaxCountHours = 366 * 24

// HasModelFilter reports whether f filters on the event's model
// (IdentifierNumbers, IdentifierTypes or Text). Such a filter can only be
// applied by reading every event it might select, which the store's
// aggregations refuse to do: they are answered from counts.
func (f EventFilter) HasModelFilter() bool {
	return f.Text != "" || len(f.IdentifierNumbers) > 0 || len(f.IdentifierTypes) > 0
}
