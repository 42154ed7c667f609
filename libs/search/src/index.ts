export * from './filter-scanner';
export * from './search-grammar';
export * from './keyset-page';
export * from './order-by';
