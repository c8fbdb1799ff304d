package entra

// PriorFresh is priorFresh, for the tests outside the package.
const PriorFresh = priorFresh
