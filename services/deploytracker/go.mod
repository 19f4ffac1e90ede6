module github.com/certbind/certbind/services/deploytracker

go 1.26.0
