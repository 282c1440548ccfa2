"""Privacy requests: everything held on a person, as one document (access), and the person erased from every
store Accord keeps, with removals sent to every destination that received them (delete)."""
