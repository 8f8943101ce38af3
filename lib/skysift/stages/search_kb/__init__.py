"""`skysift search-kb`: Distributed top-K search of a knowledge base and the e^-d weighted vote -> predictions."""
