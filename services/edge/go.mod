module github.com/certbind/certbind/services/edge

go 1.26.0

replace (
	github.com/certbind/certbind/proto => ../../proto
	github.com/certbind/certbind/services/certmgr => ../certmgr
)
