module github.com/certbind/certbind

go 1.26.0
