module github.com/certbind/certbind/services/edge

go 1.26.0
