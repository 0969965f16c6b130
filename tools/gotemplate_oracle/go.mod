module gotemplateoracle

go 1.22
